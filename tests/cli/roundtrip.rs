//! Round trips of the event-line format through the library API: upstream's own lines must re-serialise
//! to the same bytes, random events must survive `to_line` → `from_line` unchanged, and the writer must
//! agree with Python's `json.dumps` on whatever values we throw at it (checked against a real python3).

use crate::support;
use chrono::{DateTime, FixedOffset, NaiveDateTime};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Map, Number, Value};
use spec_kitty::events::{Event, EventId, Timestamp, pyjson};
use std::borrow::Cow;
use std::io::Write as _;
use std::process::{Command, Stdio};

// ---------------------------------------------------------------------------------------------------
// a. upstream fixture logs

/// Every line upstream wrote must be read and written back byte for byte: mixing the Python CLI and
/// ours on one repository depends on it.
#[test]
fn upstream_fixture_lines_round_trip_byte_for_byte() {
    let Some(fixture) = support::upstream_fixture() else { return };
    let mut logs: Vec<_> = std::fs::read_dir(fixture.join("kitty-specs"))
        .expect("the upstream fixture has kitty-specs/")
        .map(|entry| entry.unwrap().path().join("execution.events.jsonl"))
        .filter(|path| path.is_file())
        .collect();
    logs.sort();
    assert!(!logs.is_empty(), "no execution.events.jsonl under {}", fixture.display());

    let mut checked = 0;
    for log in &logs {
        let bytes = std::fs::read(log).unwrap();
        assert!(bytes.ends_with(b"\n"), "{} does not end with a newline", log.display());
        for (index, line) in bytes[..bytes.len() - 1].split(|&b| b == b'\n').enumerate() {
            let at = format!("{}:{}", log.display(), index + 1);
            let event: Event = Event::from_line(line).unwrap_or_else(|e| panic!("{at} does not parse: {e}"));
            assert_eq!(event.to_line().as_bytes(), line, "{at} re-serialises differently");
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} upstream lines found; the fixture looks incomplete");
}

// ---------------------------------------------------------------------------------------------------
// strategies

/// Characters that stress the writer's escaping: controls, quotes, DEL, non-ASCII, astral (surrogate
/// pairs in `\uXXXX` form), line separators, plus whatever proptest's `char` generator likes.
fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => any::<char>(),
        2 => prop::char::range('\0', '\x1f'),
        2 => prop::char::range(' ', '~'),
        2 => prop::sample::select(vec![
            '"', '\\', '/', '\u{7f}', '\u{80}', 'é', 'ü', 'ß', '\u{2028}', '\u{2029}', '\u{feff}', '\u{fffd}',
            '\u{ffff}', '😀', '🐈', '\u{10000}', '\u{10ffff}', '日',
        ]),
    ]
}

fn text(len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    prop::collection::vec(tricky_char(), len).prop_map(String::from_iter)
}

/// Finite floats of every kind, by value and by bit pattern, with the forms Python prints specially.
fn finite_float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<u64>().prop_map(f64::from_bits).prop_filter("finite", |f| f.is_finite()),
        (1u64..(1 << 52)).prop_map(f64::from_bits), // subnormals
        -1e6..1e6f64,
        prop::sample::select(vec![
            0.0,
            -0.0,
            1.0,
            0.015,
            15.6,
            0.1 + 0.2,
            1e-4,
            1e-5,
            9.999999999999999e-5,
            1e15,
            1e16,
            9007199254740993.0,
            1e22,
            1e300,
            -1e300,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            f64::EPSILON,
            5e-324,
        ]),
    ]
}

fn number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<i64>().prop_map(Number::from),
        any::<u64>().prop_map(Number::from),
        prop::sample::select(vec![i64::MIN, i64::MAX, -1, 0, 1]).prop_map(Number::from),
        prop::sample::select(vec![u64::MAX, u64::MAX - 1, 1 << 53, (1 << 53) + 1]).prop_map(Number::from),
        finite_float().prop_map(|f| Number::from_f64(f).expect("finite")),
    ]
}

/// Any JSON value, nested a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number().prop_map(Value::Number),
        text(0..10).prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((text(0..6), inner), 0..6).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn payload() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((text(0..8), json_value()), 0..8).prop_map(|kv| kv.into_iter().collect())
}

/// ULIDs, UUIDs and the over-wide Crockford ids upstream accepts. Wide ids only exist through
/// `EventId::parse`, which establishes their invariant (26 upper-case chars, first above `7`).
fn event_id() -> impl Strategy<Value = EventId> {
    const CROCKFORD: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let wide = (8usize..32, prop::collection::vec(0usize..32, 25)).prop_map(|(first, rest)| {
        let text: String = std::iter::once(first).chain(rest).map(|i| CROCKFORD[i] as char).collect();
        EventId::parse(&text).expect("valid Crockford id")
    });
    prop_oneof![
        4 => any::<u128>().prop_map(EventId::Ulid),
        1 => any::<u128>().prop_map(EventId::Uuid),
        1 => wide,
    ]
}

/// Seconds of 0001-01-01T00:00:00 and 9999-12-31T23:59:59: the range Python's datetime can write.
const MIN_SECONDS: i64 = -62_135_596_800;
const MAX_SECONDS: i64 = 253_402_300_799;

/// Microsecond-precision local times (Python keeps no more), often with a zero fraction because
/// `isoformat()` then omits it.
fn local_time() -> impl Strategy<Value = NaiveDateTime> {
    let micros = prop_oneof![Just(0u32), 0u32..1_000_000];
    let seconds = prop_oneof![MIN_SECONDS..=MAX_SECONDS, 1_700_000_000i64..1_900_000_000];
    (seconds, micros).prop_map(|(s, us)| DateTime::from_timestamp(s, us * 1000).expect("in range").naive_utc())
}

/// Naive times and aware times with whole-minute offsets (UTC most often, as upstream writes). Offsets
/// with seconds are left out on purpose: `isoformat()` writes them (`+05:30:15`) but pydantic rejects
/// them on read, and so does our reader, so such a value cannot come from a log line.
fn timestamp() -> impl Strategy<Value = Timestamp> {
    let offset_minutes = prop_oneof![Just(0i32), -1439i32..=1439, prop::sample::select(vec![330, -330, 345, -600])];
    prop_oneof![
        local_time().prop_map(Timestamp::Naive),
        (local_time(), offset_minutes).prop_map(|(local, minutes)| {
            let offset = FixedOffset::east_opt(minutes * 60).expect("within a day");
            Timestamp::Aware(local.and_local_timezone(offset).single().expect("fixed offsets are unambiguous"))
        }),
    ]
}

fn event() -> impl Strategy<Value = Event<'static>> {
    (
        event_id(),
        text(1..12),
        text(1..24),
        payload(),
        timestamp(),
        text(1..12),
        any::<u64>(),
        prop::option::of(event_id()),
    )
        .prop_map(
            |(event_id, event_type, aggregate_id, payload, timestamp, node_id, lamport_clock, causation_id)| Event {
                event_id,
                event_type: Cow::Owned(event_type),
                aggregate_id: Cow::Owned(aggregate_id),
                payload,
                timestamp,
                node_id: Cow::Owned(node_id),
                lamport_clock,
                causation_id,
            },
        )
}

fn config() -> ProptestConfig {
    // No regression files: this suite must not write into the repository.
    ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() }
}

// ---------------------------------------------------------------------------------------------------
// checks

/// `Value`'s equality treats `0.0 == -0.0`; a round trip must keep every float bit for bit.
fn same_float_bits(a: &Value, b: &Value, path: &str) -> Result<(), String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            if x.to_bits() == y.to_bits() && a.is_f64() == b.is_f64() {
                Ok(())
            } else {
                Err(format!("{path}: float {x:?} came back as {y:?} ({a} vs {b})"))
            }
        }
        (Value::Array(xs), Value::Array(ys)) => {
            xs.iter().zip(ys).enumerate().try_for_each(|(i, (x, y))| same_float_bits(x, y, &format!("{path}[{i}]")))
        }
        (Value::Object(xs), Value::Object(ys)) => xs.iter().try_for_each(|(k, x)| match ys.get(k) {
            Some(y) => same_float_bits(x, y, &format!("{path}.{k:?}")),
            None => Err(format!("{path}: key {k:?} lost")),
        }),
        _ => Ok(()),
    }
}

/// Object keys in document order (serde_json keeps it: the crate enables `preserve_order`) must be
/// strictly increasing by code point at every level, as with Python's `sort_keys=True`.
fn keys_sorted(value: &Value, path: &str) -> Result<(), String> {
    match value {
        Value::Object(map) => {
            let keys: Vec<&String> = map.keys().collect();
            if let Some(pair) = keys.windows(2).find(|w| w[0] >= w[1]) {
                return Err(format!("{path}: key {:?} comes before {:?}", pair[0], pair[1]));
            }
            map.iter().try_for_each(|(k, v)| keys_sorted(v, &format!("{path}.{k:?}")))
        }
        Value::Array(items) => items.iter().enumerate().try_for_each(|(i, v)| keys_sorted(v, &format!("{path}[{i}]"))),
        _ => Ok(()),
    }
}

/// The checkers above must be able to fail, or the properties below prove nothing.
#[test]
fn checkers_catch_what_they_guard_against() {
    let zero = serde_json::json!({"x": [0.0]});
    let negative_zero = serde_json::json!({"x": [-0.0]});
    assert_eq!(zero, negative_zero, "serde_json equality cannot tell the zeros apart");
    assert!(same_float_bits(&zero, &negative_zero, "$").is_err());
    assert!(same_float_bits(&serde_json::json!(1.0), &serde_json::json!(1), "$").is_err());
    assert!(same_float_bits(&zero, &zero, "$").is_ok());

    let unsorted: Value = serde_json::from_str(r#"{"a": {"d": 1, "c": 2}}"#).unwrap();
    assert!(keys_sorted(&unsorted, "$").unwrap_err().contains("\"d\" comes before \"c\""));
    let astral: Value = serde_json::from_str(r#"[{"\uffff": 1, "\ud83d\ude00": 2}]"#).unwrap();
    assert!(keys_sorted(&astral, "$").is_ok(), "U+FFFF sorts before U+1F600 by code point");
}

// ---------------------------------------------------------------------------------------------------
// b. properties of the line format

proptest! {
    #![proptest_config(config())]

    /// Reading what we write gives back the same event, and writing it again gives the same bytes.
    #[test]
    fn event_survives_a_line_round_trip(event in event()) {
        let line = event.to_line();
        let parsed: Event = Event::from_line(line.as_bytes())
            .map_err(|e| TestCaseError::fail(format!("our own line does not parse ({e}): {line}")))?;
        prop_assert_eq!(&parsed, &event, "line: {}", line);
        // DateTime equality ignores the offset; the bytes below do not.
        prop_assert_eq!(parsed.timestamp.isoformat(), event.timestamp.isoformat());
        same_float_bits(&Value::Object(event.payload.clone()), &Value::Object(parsed.payload.clone()), "payload")
            .map_err(TestCaseError::fail)?;
        prop_assert_eq!(parsed.to_line(), line);
    }

    /// The line is one line of strict JSON (serde_json accepts it; no NaN, no raw newline), pure ASCII,
    /// with keys sorted at every level.
    #[test]
    fn event_line_is_sorted_ascii_json(event in event()) {
        let line = event.to_line();
        prop_assert!(line.is_ascii(), "non-ASCII byte in {}", line);
        prop_assert!(!line.contains('\n') && !line.contains('\r'), "line break inside {}", line);
        let value: Value = serde_json::from_str(&line)
            .map_err(|e| TestCaseError::fail(format!("not JSON ({e}): {line}")))?;
        prop_assert!(value.is_object(), "not an object: {}", line);
        keys_sorted(&value, "$").map_err(|e| TestCaseError::fail(format!("{e} in {line}")))?;
        prop_assert_eq!(&value["payload"], &Value::Object(event.payload.clone()));
    }
}

// ---------------------------------------------------------------------------------------------------
// c. the writer against real Python

/// Values the random generator may well miss: Python's float repr thresholds, integer extremes,
/// escapes and key ordering beyond the BMP.
fn known_cases() -> Vec<Value> {
    let floats = [
        0.0,
        -0.0,
        1.0,
        0.015,
        1e-4,
        1e-5,
        9.999999999999999e-5,
        1e15,
        1e16,
        1.5e16,
        1e22,
        1e300,
        5e-324,
        2.2250738585072014e-308,
        f64::MAX,
        0.1 + 0.2,
        123456789.125,
    ];
    let mut cases: Vec<Value> = floats.iter().map(|&f| Value::Number(Number::from_f64(f).unwrap())).collect();
    cases.extend([
        Value::from(i64::MIN),
        Value::from(u64::MAX),
        Value::from("tab\t quote\" back\\ nl\n cr\r del\u{7f} nul\0 bell\u{7} e\u{301} \u{2028} 😀"),
        serde_json::json!({"😀": 1, "\u{ffff}": 2, "é": 3, "Z": 4, "a": 5, "": 6, "\u{10000}": [], "b": {}}),
        serde_json::json!([[], {}, [[]], {"x": {"y": {"z": null}}}, true, false]),
    ]);
    cases
}

/// 200 values from a seeded generator, so a failure reproduces.
fn random_values(count: usize) -> Vec<Value> {
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let strategy = json_value();
    (0..count).map(|_| strategy.new_tree(&mut runner).expect("generate").current()).collect()
}

/// The styles [`python_dumps`] answers for, in its order, with the `json.dumps` arguments each mirrors.
const PYTHON_STYLES: [(&str, pyjson::Style); 4] = [
    ("sort_keys=True", pyjson::LOG_LINE),
    ("defaults", pyjson::COMPACT),
    ("indent=2, ensure_ascii=False", pyjson::PRETTY),
    ("sort_keys=True, indent=2, ensure_ascii=False", pyjson::PRETTY_SORTED),
];

/// Sends the values to one python3 process as JSON lines; gets back, per value, what `json.dumps` makes
/// of it in each of [`PYTHON_STYLES`]. `None` when python3 is not installed.
fn python_dumps(values: &[Value]) -> Option<Vec<[String; 4]>> {
    const SCRIPT: &str = r#"
import json, sys
for raw in sys.stdin.buffer.read().split(b"\n"):
    if raw:
        obj = json.loads(raw)
        print(json.dumps([json.dumps(obj, sort_keys=True), json.dumps(obj), json.dumps(obj, indent=2, ensure_ascii=False),
                          json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False)]))
"#;
    let mut child = match Command::new("python3")
        .args(["-I", "-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            eprintln!("note: python3 is not available ({e}); skipping the comparison with json.dumps");
            return None;
        }
    };
    // serde_json writes floats in shortest round-trip form, so Python reads exactly our f64s.
    let mut input = String::new();
    for value in values {
        input.push_str(&serde_json::to_string(value).unwrap());
        input.push('\n');
    }
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(output.status.success(), "python3 failed: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).expect("json.dumps output is ASCII");
    Some(text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect())
}

#[test]
fn writer_matches_python_json_dumps() {
    let mut values = known_cases();
    values.extend(random_values(200));
    let Some(expected) = python_dumps(&values) else { return };
    assert_eq!(expected.len(), values.len(), "python3 answered for a different number of values");

    let mut mismatches = Vec::new();
    for (value, python) in values.iter().zip(&expected) {
        for ((name, style), python) in PYTHON_STYLES.iter().zip(python) {
            let ours = pyjson::to_string(value, *style);
            if &ours != python {
                mismatches.push(format!("json.dumps({name}) of {value}\n  python: {python}\n  ours:   {ours}"));
            }
            // A Value takes a shortcut for sort_keys (its objects are handed over sorted); the generic
            // path, which sorts inside the formatter, must agree.
            let generic = pyjson::to_string_of(value, *style).unwrap();
            if &generic != python {
                mismatches
                    .push(format!("generic json.dumps({name}) of {value}\n  python: {python}\n  ours:   {generic}"));
            }
        }
    }
    assert!(mismatches.is_empty(), "{} mismatch(es) with Python:\n{}", mismatches.len(), mismatches.join("\n"));
}

/// A report-like type with a derived `Serialize`: written by `pyjson::to_string_of` straight from the
/// struct (no `serde_json::Value` in between), it must give the bytes `json.dumps` gives for the same
/// object. Python gets the object as serde_json's own JSON of the struct (fields in declaration order,
/// floats in shortest round-trip form, so it reads exactly our f64s).
#[derive(serde::Serialize)]
struct Report {
    zeta_first_declared: &'static str,
    cost_usd: f64,
    rate: f64,
    whole: f64,
    huge: f64,
    small: f32,
    count: u64,
    delta: i64,
    missing: Option<String>,
    present: Option<Totals>,
    #[serde(rename = "naïve key ü")]
    renamed: bool,
    text: String,
    tags: Vec<&'static str>,
    by_model: std::collections::BTreeMap<String, Totals>,
    empty_list: Vec<u8>,
    empty_map: std::collections::BTreeMap<String, u8>,
    insertion_order: Map<String, Value>,
    unit: (),
    pair: (u8, &'static str),
    kind: Kind,
    shape: Shape,
}

#[derive(serde::Serialize)]
struct Totals {
    output_tokens: u64,
    input_tokens: u64,
    cost: Option<f64>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Estimated,
}

#[derive(serde::Serialize)]
enum Shape {
    Point { y: i32, x: i32 },
}

fn report() -> Report {
    let totals = |input, output, cost| Totals { output_tokens: output, input_tokens: input, cost };
    let mut insertion_order = Map::new();
    for (key, value) in
        [("b", Value::from(1)), ("a", Value::from("é")), ("😀", Value::Null), ("\u{ffff}", Value::from(2.5))]
    {
        insertion_order.insert(key.to_owned(), value);
    }
    Report {
        zeta_first_declared: "declared first, sorts last",
        cost_usd: 0.015,
        rate: 1e-05,
        whole: 1.0,
        huge: 1e16,
        small: 0.1,
        count: u64::MAX,
        delta: i64::MIN,
        missing: None,
        present: Some(totals(12_000, 3_400, None)),
        renamed: true,
        text: "café ß 日本 😀🐈 \u{10ffff} tab\t quote\" back\\ nl\n del\u{7f} nul\0 \u{2028}".into(),
        tags: vec!["a", "", "ü"],
        by_model: [
            ("claude-sonnet-4.5".to_owned(), totals(1, 2, Some(31.2))),
            ("Zeta".to_owned(), totals(0, 0, Some(0.0))),
            ("émoji 😀".to_owned(), totals(5, 6, Some(1e-7))),
        ]
        .into_iter()
        .collect(),
        empty_list: Vec::new(),
        empty_map: Default::default(),
        insertion_order,
        unit: (),
        pair: (7, "seven"),
        kind: Kind::Estimated,
        shape: Shape::Point { y: -1, x: 2 },
    }
}

#[test]
fn serialize_types_match_python_json_dumps() {
    let report = report();
    let as_python_reads_it = serde_json::to_value(&report).unwrap();
    let Some(expected) = python_dumps(std::slice::from_ref(&as_python_reads_it)) else { return };
    for ((name, style), python) in PYTHON_STYLES.iter().zip(&expected[0]) {
        let ours = pyjson::to_string_of(&report, *style).unwrap();
        assert_eq!(&ours, python, "json.dumps({name}) of the Report struct");
        // The Value path is the same writer.
        assert_eq!(pyjson::to_string(&as_python_reads_it, *style), ours, "{name}: Value and struct differ");
    }
}

/// Python sorts int dict keys by value (`json.dumps({10: 1, 9: 2}, sort_keys=True)` is
/// `{"9": 2, "10": 1}`); a Rust map with integer keys is the same object.
#[test]
fn integer_map_keys_sort_by_value_like_python() {
    let map: std::collections::HashMap<i64, &str> = [(10, "ten"), (9, "nine"), (-1, "minus one")].into();
    assert_eq!(
        pyjson::to_string_of(&map, pyjson::LOG_LINE).unwrap(),
        r#"{"-1": "minus one", "9": "nine", "10": "ten"}"#
    );
}

/// When two shortest digit strings are equally close to a float (its exact value ends in 5 one digit
/// further), Python's repr (David Gay's dtoa) rounds half to even, while Rust's `{:e}` rounds half up
/// (regression: `float_repr` was once built on `{:e}`). Found by the comparison above with more random
/// values; the expected strings are Python 3.11's `repr` of each value.
#[test]
fn float_repr_breaks_exact_ties_to_even_like_python() {
    // Written as sums so the literals are exact: 2^49 + 0.25 is 562949953421312.25 exactly.
    let two_49 = 2f64.powi(49);
    let cases = [
        (two_49 + 0.25, "562949953421312.2"),
        (1052273669848514.0 + 0.25, "1052273669848514.2"),
        (two_49 + 0.75, "562949953421312.8"),
        (2.0 * two_49 + 0.5, "1125899906842624.5"),
    ];
    for (value, python) in cases {
        assert_eq!(pyjson::float_repr(value), python, "repr of the f64 {value:e}");
    }
}
