//! Tentacle's XML key/value config (`<octopus-settings><set key="…">value</set></octopus-settings>`): a small strict reader and the writer that matches .NET's output.

/// The settings of one Tentacle.config, in file order. Keys compare case-insensitively, as Tentacle reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XmlConfig {
    entries: Vec<(String, Option<String>)>,
}

impl XmlConfig {
    /// An empty config.
    pub fn new() -> XmlConfig {
        XmlConfig::default()
    }

    /// Parses the file's text. The error says what is wrong and where (line).
    pub fn parse(text: &str) -> Result<XmlConfig, String> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut p = Parser { text, pos: 0 };
        p.skip_prolog()?;
        let (root, _, self_closing) = p.open_tag()?;
        if root != "octopus-settings" {
            return Err(p.problem(&format!(
                "the root element is <{root}>, not <octopus-settings>; this is not a Tentacle config"
            )));
        }
        let mut config = XmlConfig::new();
        if self_closing {
            return Ok(config);
        }
        loop {
            p.skip_misc()?;
            if p.rest().starts_with("</") {
                p.close_tag("octopus-settings")?;
                break;
            }
            let (name, attrs, self_closing) = p.open_tag()?;
            if name != "set" {
                return Err(p.problem(&format!(
                    "unexpected element <{name}> (only <set key=\"…\"> belongs here)"
                )));
            }
            let key = attrs
                .into_iter()
                .find(|(k, _)| k == "key")
                .map(|(_, v)| v)
                .ok_or_else(|| p.problem("a <set> element has no key attribute"))?;
            let value = if self_closing {
                None
            } else {
                let raw = p.take_until("<")?;
                p.close_tag("set")?;
                Some(unescape(raw).map_err(|e| p.problem(&e))?)
            };
            config.entries.push((key, value));
        }
        p.skip_misc()?;
        if !p.rest().trim().is_empty() {
            return Err(p.problem("text after </octopus-settings>"));
        }
        Ok(config)
    }

    /// The value of `key` (case-insensitive); an empty or whitespace value counts as unset, as in Tentacle.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .and_then(|(_, v)| v.as_deref())
            .filter(|v| !v.trim().is_empty())
    }

    /// Sets `key` (replacing any case variant); `None` writes an empty element.
    pub fn set(&mut self, key: &str, value: Option<String>) {
        self.entries.retain(|(k, _)| !k.eq_ignore_ascii_case(key));
        self.entries.push((key.to_owned(), value));
    }

    /// The keys, in file order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    /// The file as Tentacle writes it: UTF-8 with a BOM, declaration, two-space indent, keys in ordinal order.
    pub fn to_xml(&self) -> Vec<u8> {
        let mut sorted: Vec<&(String, Option<String>)> = self.entries.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = String::from("\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
        out.push_str("<octopus-settings xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n");
        for (key, value) in sorted {
            match value {
                Some(v) if !v.is_empty() => out.push_str(&format!(
                    "  <set key=\"{}\">{}</set>\n",
                    escape(key, true),
                    escape(v, false)
                )),
                _ => out.push_str(&format!("  <set key=\"{}\" />\n", escape(key, true))),
            }
        }
        out.push_str("</octopus-settings>");
        out.into_bytes()
    }
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn problem(&self, what: &str) -> String {
        let line = self.text[..self.pos].matches('\n').count() + 1;
        format!("The config is not valid Tentacle XML at line {line}: {what}")
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.text.len() - trimmed.len();
    }

    /// Whitespace, comments and processing instructions.
    fn skip_misc(&mut self) -> Result<(), String> {
        loop {
            self.skip_ws();
            let (open, close) = if self.rest().starts_with("<!--") {
                ("<!--", "-->")
            } else if self.rest().starts_with("<?") {
                ("<?", "?>")
            } else {
                return Ok(());
            };
            let end = self.rest()[open.len()..]
                .find(close)
                .ok_or_else(|| self.problem(&format!("{open} is never closed")))?;
            self.pos += open.len() + end + close.len();
        }
    }

    fn skip_prolog(&mut self) -> Result<(), String> {
        self.skip_misc()?;
        if self.rest().starts_with("<!DOCTYPE") {
            return Err(self.problem("a DOCTYPE is not allowed in a Tentacle config"));
        }
        if self.rest().is_empty() {
            return Err(self.problem("the file is empty"));
        }
        Ok(())
    }

    fn take_until(&mut self, needle: &str) -> Result<&'a str, String> {
        let at = self
            .rest()
            .find(needle)
            .ok_or_else(|| self.problem(&format!("expected {needle:?} before the end")))?;
        let s = &self.rest()[..at];
        self.pos += at;
        Ok(s)
    }

    fn name(&mut self) -> Result<&'a str, String> {
        let len = self
            .rest()
            .find(|c: char| !(c.is_alphanumeric() || matches!(c, '-' | '_' | ':' | '.')))
            .unwrap_or(self.rest().len());
        if len == 0 {
            return Err(self.problem("expected a name"));
        }
        let s = &self.rest()[..len];
        self.pos += len;
        Ok(s)
    }

    /// `<name attr="v" …>` or `<name … />`: (name, attributes, self-closing).
    #[allow(clippy::type_complexity)]
    fn open_tag(&mut self) -> Result<(String, Vec<(String, String)>, bool), String> {
        if !self.rest().starts_with('<') {
            return Err(self.problem("expected an element"));
        }
        self.pos += 1;
        let name = self.name()?.to_owned();
        let mut attrs = Vec::new();
        loop {
            self.skip_ws();
            if self.rest().starts_with("/>") {
                self.pos += 2;
                return Ok((name, attrs, true));
            }
            if self.rest().starts_with('>') {
                self.pos += 1;
                return Ok((name, attrs, false));
            }
            let attr = self.name()?.to_owned();
            self.skip_ws();
            if !self.rest().starts_with('=') {
                return Err(self.problem(&format!("attribute {attr} has no value")));
            }
            self.pos += 1;
            self.skip_ws();
            let quote = self
                .rest()
                .chars()
                .next()
                .filter(|c| *c == '"' || *c == '\'')
                .ok_or_else(|| self.problem(&format!("attribute {attr} is not quoted")))?;
            self.pos += 1;
            let raw = self.take_until(&quote.to_string())?;
            self.pos += 1;
            attrs.push((attr, unescape(raw).map_err(|e| self.problem(&e))?));
        }
    }

    fn close_tag(&mut self, name: &str) -> Result<(), String> {
        let expected = format!("</{name}");
        if !self.rest().starts_with(&expected) {
            return Err(self.problem(&format!("expected </{name}>")));
        }
        self.pos += expected.len();
        self.skip_ws();
        if !self.rest().starts_with('>') {
            return Err(self.problem(&format!("expected </{name}>")));
        }
        self.pos += 1;
        Ok(())
    }
}

fn unescape(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let end = rest[at..]
            .find(';')
            .ok_or_else(|| "an & that does not start an entity".to_owned())?;
        let entity = &rest[at + 1..at + end];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            e if e.starts_with("#x") || e.starts_with("#X") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| format!("a bad character reference &{e};"))?,
            e if e.starts_with('#') => e[1..]
                .parse::<u32>()
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| format!("a bad character reference &{e};"))?,
            e => return Err(format!("an unknown entity &{e};")),
        };
        out.push(c);
        rest = &rest[at + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn escape(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\r' => out.push_str("&#xD;"),
            '\n' if attribute => out.push_str("&#xA;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_tentacle_writes_and_what_create_instance_writes() {
        let text = "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<octopus-settings xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n  <set key=\"Octopus.Home\">/etc/octopus/Tentacle</set>\n  <!-- note -->\n  <set key=\"Tentacle.Communication.TrustedOctopusServers\">[{&quot;Thumbprint&quot;:&quot;AB&quot;}]</set>\n  <set key=\"Tentacle.Services.ListenIP\" />\n  <set key='x'>a &amp; b &#x41;&#66;</set>\n</octopus-settings>";
        let c = XmlConfig::parse(text).unwrap();
        assert_eq!(c.get("octopus.home"), Some("/etc/octopus/Tentacle"));
        assert_eq!(
            c.get("Tentacle.Communication.TrustedOctopusServers"),
            Some("[{\"Thumbprint\":\"AB\"}]")
        );
        assert_eq!(c.get("Tentacle.Services.ListenIP"), None);
        assert_eq!(c.get("x"), Some("a & b AB"));
        let empty = XmlConfig::parse(
            "<?xml version='1.0' encoding='UTF-8' ?><octopus-settings></octopus-settings>",
        )
        .unwrap();
        assert_eq!(empty.keys().count(), 0);
    }

    #[test]
    fn writes_sorted_escaped_and_reads_back() {
        let mut c = XmlConfig::new();
        c.set("Tentacle.Services.PortNumber", Some("10933".into()));
        c.set("Octopus.Home", Some("/a <b> & \"c\"".into()));
        c.set("Tentacle.Services.ListenIP", None);
        let bytes = c.to_xml();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with(
            "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<octopus-settings xmlns:xsd"
        ));
        let home = text.find("Octopus.Home").unwrap();
        let port = text.find("PortNumber").unwrap();
        assert!(home < port, "{text}");
        assert!(
            text.contains("<set key=\"Tentacle.Services.ListenIP\" />"),
            "{text}"
        );
        let back = XmlConfig::parse(&text).unwrap();
        assert_eq!(back.get("Octopus.Home"), Some("/a <b> & \"c\""));
        assert_eq!(back.get("tentacle.services.portnumber"), Some("10933"));
    }

    #[test]
    fn broken_files_say_where() {
        for (text, needle) in [
            ("", "empty"),
            ("<settings></settings>", "not <octopus-settings>"),
            (
                "<octopus-settings><set>1</set></octopus-settings>",
                "no key",
            ),
            (
                "<octopus-settings>\n<set key=\"a\">1</sett></octopus-settings>",
                "line 2",
            ),
            (
                "<octopus-settings><set key=\"a\">&bogus;</set></octopus-settings>",
                "unknown entity",
            ),
            (
                "<octopus-settings><set key=\"a\">1</set>",
                "expected an element",
            ),
        ] {
            let err = XmlConfig::parse(text).unwrap_err();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }
}
