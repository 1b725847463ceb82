//! Whatever the text, parsing returns Ok or Err and never panics.

use proptest::prelude::*;

/// Pieces of workflow syntax, so generated text reaches past the YAML parser.
fn fragments() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("on: push\n".to_string()),
        Just("jobs:\n".to_string()),
        Just("  j:\n".to_string()),
        Just("    runs-on: linux-test\n".to_string()),
        Just("    steps:\n".to_string()),
        Just("      - run: echo ${{ matrix.x }}\n".to_string()),
        Just("      - uses: actions/checkout@v4\n".to_string()),
        Just("    needs: [j]\n".to_string()),
        Just("    strategy: {matrix: {x: [1, 2], include: [{x: 3}]}}\n".to_string()),
        Just("    if: ${{ ".to_string()),
        Just("&a [*a, *a]\n".to_string()),
        Just("workflow \"w\" { job \"j\" { step { run \"x\" } } }\n".to_string()),
        "[ -~\n]{0,20}",
    ];
    prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_never_panics_on_arbitrary_text(text in "\\PC{0,200}") {
        let _ = workflow::parse(&text, "a.yml");
        let _ = workflow::parse(&text, "a.kdl");
    }

    #[test]
    fn parse_never_panics_on_workflow_like_text(text in fragments()) {
        let _ = workflow::parse(&text, "a.yml");
        let _ = workflow::parse(&text, "a.kdl");
        if let Ok(w) = workflow::parse_with(&text, "a.yml", &workflow::ParseOptions { mode: workflow::Mode::GitHub }) {
            let fixture = crate::Fixture::new();
            for key in w.job_keys() {
                let _ = fixture.expand(&w, &key);
            }
        }
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("on: push\njobs: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    assert!(workflow::parse(&deep, "a.yml").is_err());
    let deep_kdl = format!("workflow \"w\" {{ {} {} }}", "a {".repeat(2_000), "}".repeat(2_000));
    assert!(workflow::parse(&deep_kdl, "a.kdl").is_err());
    let laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
    assert!(workflow::parse(laughs, "a.yml").is_err());
}
