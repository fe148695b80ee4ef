//! What each Notification type sends, made from the stored event (`event.rs`). Pure: data in,
//! bytes out, so the shapes are table-tested here and pinned against the vendors' documented
//! samples in `tests/e2e/notify.rs`.
//!
//! - `generic`: the event document itself (signed by `sign.rs`).
//! - `slack`: an incoming-webhook message: `text` (the notification's fallback line) and Block
//!   Kit `blocks` (a header section, one field per artifact, a context line with the Freight and
//!   the dashboard link). Slack's mrkdwn needs `&`, `<`, `>` escaped; nothing else is.
//! - `teams`: a Workflows webhook's `message` envelope holding one Adaptive Card (a title, a
//!   FactSet of the artifacts, an `Action.OpenUrl` to the dashboard).
//!
//! The dashboard link is `{--base-url}/ui/warehouses/{project}/{name}`, only when `--base-url`
//! is set.

use dockhand_core::config::NotificationType;
use serde_json::{json, Value};

/// The body to send for `event` (the stored payload) to a Notification of type `kind`.
pub fn render(kind: NotificationType, payload: &str, base_url: &str) -> Vec<u8> {
    let event: Value = match serde_json::from_str(payload) {
        Ok(v) => v,
        // A row is written from a serialized document; an unreadable one is sent as it is.
        Err(_) => return payload.as_bytes().to_vec(),
    };
    match kind {
        NotificationType::Generic => payload.as_bytes().to_vec(),
        NotificationType::Slack => slack(&Summary::of(&event, base_url))
            .to_string()
            .into_bytes(),
        NotificationType::Teams => teams(&Summary::of(&event, base_url))
            .to_string()
            .into_bytes(),
    }
}

/// The event in words, shared by the chat types.
#[derive(Debug, PartialEq)]
struct Summary {
    /// One line: "New Freight in kargo-demo/app: nginx:1.2.3".
    title: String,
    /// (label, value) lines: artifacts, or the error.
    facts: Vec<(String, String)>,
    /// "Freight 1a2b… (alias)" when there is one.
    footer: Option<String>,
    link: Option<String>,
}

impl Summary {
    fn of(event: &Value, base_url: &str) -> Summary {
        let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let project = s(&event["project"]);
        let warehouse = event["warehouse"].as_str().map(str::to_string);
        let subject = match &warehouse {
            Some(w) => format!("{project}/{w}"),
            None => project.clone(),
        };
        let mut facts = Vec::new();
        let mut footer = None;
        let title = match event["type"].as_str().unwrap_or_default() {
            "FreightCreated" => {
                let f = &event["freight"];
                let a = &f["artifacts"];
                let mut names = Vec::new();
                for i in a["images"].as_array().into_iter().flatten() {
                    let name = format!("{}:{}", s(&i["repoURL"]), s(&i["tag"]));
                    facts.push(("Image".into(), format!("{name} ({})", s(&i["digest"]))));
                    names.push(name);
                }
                for c in a["charts"].as_array().into_iter().flatten() {
                    let repo = match c["name"].as_str() {
                        Some(n) => format!("{}/{n}", s(&c["repoURL"])),
                        None => s(&c["repoURL"]),
                    };
                    let name = format!("{repo} {}", s(&c["version"]));
                    facts.push(("Chart".into(), name.clone()));
                    names.push(name);
                }
                for c in a["commits"].as_array().into_iter().flatten() {
                    let id = s(&c["id"]);
                    let short: String = id.chars().take(12).collect();
                    let at = c["tag"]
                        .as_str()
                        .or(c["branch"].as_str())
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default();
                    facts.push(("Commit".into(), format!("{} {id}{at}", s(&c["repoURL"]))));
                    names.push(format!("{short}{at}"));
                }
                footer = Some(format!("Freight {} ({})", s(&f["id"]), s(&f["alias"])));
                format!("New Freight in {subject}: {}", names.join(", "))
            }
            "DiscoveryFailed" => {
                facts.push(("Error".into(), s(&event["error"])));
                format!("Discovery failed for {subject}")
            }
            "DeliveryRejected" => {
                facts.push(("Receiver".into(), s(&event["receiver"])));
                facts.push(("Status".into(), event["status"].to_string()));
                facts.push(("Error".into(), s(&event["error"])));
                format!(
                    "A delivery to receiver {} of {subject} was rejected",
                    s(&event["receiver"])
                )
            }
            _ => s(&event["message"]),
        };
        let link = match (&warehouse, base_url.trim_end_matches('/')) {
            (Some(w), base) if !base.is_empty() => Some(format!(
                "{base}/ui/warehouses/{}/{}",
                crate::http::ui::html::segment(&project),
                crate::http::ui::html::segment(w)
            )),
            _ => None,
        };
        Summary {
            title: clip(title),
            facts: facts.into_iter().map(|(k, v)| (k, clip(v))).collect(),
            footer,
            link,
        }
    }
}

/// Longest text put in one field. Slack refuses a message whose section text passes 3,000
/// characters or a field 2,000 (`invalid_blocks`, a 400 that would fail the notification for
/// good); a long discovery error must not do that.
const MAX_TEXT: usize = 1_000;

fn clip(s: String) -> String {
    if s.chars().count() <= MAX_TEXT {
        return s;
    }
    let mut out: String = s.chars().take(MAX_TEXT - 1).collect();
    out.push('…');
    out
}

/// Slack mrkdwn: the three characters Slack gives meaning to, escaped.
fn mrkdwn(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn slack(m: &Summary) -> Value {
    let mut blocks = vec![json!({
        "type": "section",
        "text": { "type": "mrkdwn", "text": format!("*{}*", mrkdwn(&m.title)) },
    })];
    if !m.facts.is_empty() {
        // A section holds at most 10 fields.
        let fields: Vec<Value> = m
            .facts
            .iter()
            .take(10)
            .map(|(k, v)| json!({ "type": "mrkdwn", "text": format!("*{}*\n{}", mrkdwn(k), mrkdwn(v)) }))
            .collect();
        blocks.push(json!({ "type": "section", "fields": fields }));
    }
    let mut context = Vec::new();
    if let Some(f) = &m.footer {
        context.push(mrkdwn(f));
    }
    if let Some(l) = &m.link {
        context.push(format!("<{}|Open in dockhand>", l.replace('|', "%7C")));
    }
    if !context.is_empty() {
        blocks.push(json!({
            "type": "context",
            "elements": [{ "type": "mrkdwn", "text": context.join(" · ") }],
        }));
    }
    json!({ "text": m.title, "blocks": blocks })
}

fn teams(m: &Summary) -> Value {
    let mut body = vec![json!({
        "type": "TextBlock",
        "size": "Medium",
        "weight": "Bolder",
        "text": m.title,
        "wrap": true,
    })];
    if !m.facts.is_empty() {
        let facts: Vec<Value> = m
            .facts
            .iter()
            .map(|(k, v)| json!({ "title": k, "value": v }))
            .collect();
        body.push(json!({ "type": "FactSet", "facts": facts }));
    }
    if let Some(f) = &m.footer {
        body.push(json!({ "type": "TextBlock", "text": f, "isSubtle": true, "wrap": true }));
    }
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    });
    if let Some(l) = &m.link {
        card["actions"] =
            json!([{ "type": "Action.OpenUrl", "title": "Open in dockhand", "url": l }]);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FREIGHT: &str = r#"{"type":"FreightCreated","id":"msg_1","time":"t","project":"p","warehouse":"w",
        "freight":{"id":"abc","alias":"brave-fox","artifacts":{
          "images":[{"repoURL":"reg/app","tag":"1.2.3","digest":"sha256:d"}],
          "charts":[{"repoURL":"oci://reg/charts/app","version":"0.3.0"}],
          "commits":[{"repoURL":"https://git/x","id":"0123456789abcdef","branch":"main"}]}}}"#;

    #[test]
    fn summary_names_every_artifact_and_links_when_base_url_is_set() {
        let event: Value = serde_json::from_str(FREIGHT).unwrap();
        let m = Summary::of(&event, "https://dockhand.example/");
        assert_eq!(
            m.title,
            "New Freight in p/w: reg/app:1.2.3, oci://reg/charts/app 0.3.0, 0123456789ab (main)"
        );
        assert_eq!(
            m.facts[0],
            ("Image".into(), "reg/app:1.2.3 (sha256:d)".into())
        );
        assert_eq!(
            m.link.as_deref(),
            Some("https://dockhand.example/ui/warehouses/p/w")
        );
        assert_eq!(Summary::of(&event, "").link, None);
    }

    #[test]
    fn slack_escapes_mrkdwn() {
        let event =
            json!({"type":"DiscoveryFailed","project":"p","warehouse":"w","error":"a <b> & c"});
        let body = slack(&Summary::of(&event, ""));
        assert_eq!(body["text"], "Discovery failed for p/w");
        assert_eq!(
            body["blocks"][1]["fields"][0]["text"],
            "*Error*\na &lt;b&gt; &amp; c"
        );
    }

    #[test]
    fn long_texts_are_clipped_for_slack() {
        let event = json!({"type":"DiscoveryFailed","project":"p","warehouse":"w","error":"x".repeat(5000)});
        let m = Summary::of(&event, "");
        assert_eq!(m.facts[0].1.chars().count(), MAX_TEXT);
        assert!(m.facts[0].1.ends_with('…'));
    }

    #[test]
    fn generic_is_the_event_itself() {
        assert_eq!(
            render(NotificationType::Generic, FREIGHT, "x"),
            FREIGHT.as_bytes()
        );
    }
}
