//! JUnit XML as CI systems read it: one testsuite, a testcase per check (classname = the
//! namespace kind), `<failure>` with the step, expected and observed values, `<skipped>` with
//! the reason, `<error>` for a check the environment or the harness broke; a known kernel bug
//! (XFAIL) is `<skipped>` with the bug, as JUnit has no expected failure.

use super::{Run, Verdict};

pub fn render(run: &Run) -> String {
    let c = run.counts();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"nsconform\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{:.3}\">\n",
        run.records.len(),
        c.fail,
        c.broken,
        run.duration.as_secs_f64()
    ));
    out.push_str(&format!(
        "  <testsuite name=\"nsconform on Linux {}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\">\n",
        escape(&run.kernel),
        run.records.len(),
        c.fail,
        c.broken,
        c.skip + c.xfail,
        run.duration.as_secs_f64()
    ));
    out.push_str("    <properties>\n");
    let p = &run.provenance;
    for (name, value) in [
        ("kernel", run.kernel.as_str()),
        ("nsconform.version", &p.version),
        ("nsconform.commit", &p.commit),
        ("arch", &p.arch),
        ("kernel_config", &p.config),
        ("privilege", &p.privilege),
        ("started", &p.started),
    ] {
        out.push_str(&format!("      <property name=\"{name}\" value=\"{}\"/>\n", escape(value)));
    }
    out.push_str("    </properties>\n");
    for r in &run.records {
        let class = r.id.split('.').next().unwrap_or("nsconform");
        let open =
            format!("    <testcase classname=\"{}\" name=\"{}\" time=\"{:.6}\"", escape(class), escape(&r.id), r.duration.as_secs_f64());
        match &r.verdict {
            Verdict::Pass => out.push_str(&format!("{open}/>\n")),
            Verdict::Skip(reason) => {
                out.push_str(&format!("{open}>\n      <skipped message=\"{}\"/>\n    </testcase>\n", escape(reason)))
            }
            Verdict::Fail(f) if f.known_bug.is_some() => out.push_str(&format!(
                "{open}>\n      <skipped message=\"known kernel bug: {}; {}: expected {}, observed {}\"/>\n    </testcase>\n",
                escape(f.known_bug.as_deref().unwrap_or_default()),
                escape(&f.step),
                escape(&f.expected),
                escape(&f.observed)
            )),
            Verdict::Fail(f) | Verdict::Broken(f) => out.push_str(&format!(
                "{open}>\n      <{tag} message=\"{}: expected {}, observed {}\">step: {}\nexpected: {}\nobserved: {}</{tag}>\n    </testcase>\n",
                escape(&f.step),
                escape(&f.expected),
                escape(&f.observed),
                escape(&f.step),
                escape(&f.expected),
                escape(&f.observed),
                tag = if matches!(r.verdict, Verdict::Broken(_)) { "error" } else { "failure" },
            )),
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 allows no other control character, not even as a reference.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::report::fixtures;

    #[test]
    fn control_characters_are_replaced_as_xml_1_0_wants() {
        let mut run = fixtures::run();
        run.records[1].verdict = crate::report::Verdict::fail("step", "a", "bell \u{7} and nul \u{0}");
        let xml = super::render(&run);
        assert!(xml.contains("bell \u{fffd} and nul \u{fffd}") && !xml.contains("&#x"), "{xml}");
    }

    #[test]
    fn renders_cases_failures_and_skips_escaped() {
        let expected = include_str!("../../tests/fixtures/report.junit.xml");
        assert_eq!(super::render(&fixtures::run()), expected);
    }
}
