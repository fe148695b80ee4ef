//! What a manifest's media type says about the repository it was pushed to: an image, a Helm
//! chart, or either. Kargo's `getNormalizedImageRepoURLs` (`media_types.go`) makes the same
//! call; receivers whose payload carries a media type (ACR, Docker Hub, Distribution, ECR)
//! share it.

/// `(image, chart)`: which subscription kinds a push of `media_type` may concern. Helm's media
/// types say chart; Docker manifests, manifest lists, OCI indexes and image config blobs say
/// image; anything else (notably the OCI image manifest, which Helm charts use too) says both.
pub(super) fn oci_kinds(media_type: Option<&str>) -> (bool, bool) {
    match media_type.unwrap_or("") {
        m if m.starts_with("application/vnd.cncf.helm.") => (false, true),
        "application/vnd.docker.distribution.manifest.v2+json"
        | "application/vnd.docker.distribution.manifest.list.v2+json"
        | "application/vnd.docker.distribution.manifest.v1+json"
        | "application/vnd.docker.distribution.manifest.v1+prettyjws"
        | "application/vnd.oci.image.index.v1+json"
        | "application/vnd.oci.image.config.v1+json"
        | "application/vnd.docker.container.image.v1+json" => (true, false),
        _ => (true, true),
    }
}

#[cfg(test)]
mod tests {
    use super::oci_kinds;

    #[test]
    fn kinds_by_media_type() {
        let cases = [
            (
                Some("application/vnd.cncf.helm.config.v1+json"),
                (false, true),
            ),
            (
                Some("application/vnd.docker.distribution.manifest.v2+json"),
                (true, false),
            ),
            (
                Some("application/vnd.oci.image.index.v1+json"),
                (true, false),
            ),
            (
                Some("application/vnd.oci.image.manifest.v1+json"),
                (true, true),
            ),
            (Some(""), (true, true)),
            (None, (true, true)),
        ];
        for (media_type, want) in cases {
            assert_eq!(oci_kinds(media_type), want, "{media_type:?}");
        }
    }
}
