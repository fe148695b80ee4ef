//! The subscription index: normalized repository key -> subscribers. (Stub.)
