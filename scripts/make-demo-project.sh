#!/usr/bin/env bash
# Regenerates the telemetry logs of the demo project in examples/demo-project/.
#
# The demo is a small spec-kitty project ("Linkshelf", a self-hosted bookmarks service) with three
# features: 001 merged, 002 in progress, 003 just planned. Its hand-written files (config, specs,
# plans, tasks.md, WP prompts) are committed as they are; this script only produces
#
#     examples/demo-project/kitty-specs/<feature>/execution.events.jsonl
#     examples/demo-project/kitty-specs/<feature>/.telemetry-clock.json
#
# It builds the binary, deletes those files and replays a fixed sequence of
# `spec-kitty agent telemetry emit` calls, i.e. what agents would have recorded over two weeks of
# work. Every call pins its clock (SPEC_KITTY_NOW) and its ULID randomness (SPEC_KITTY_ID_SEED,
# distinct per call), so the output is byte-identical on every run: after running it, `git diff`
# should be empty unless the event format itself changed.
#
# Never edit or append to the demo logs by hand or with an unpinned emit: change the sequence
# below and re-run this script instead.
#
# Usage: scripts/make-demo-project.sh
# Then:  cargo run -q -- -C examples/demo-project agent telemetry cost --group-by role

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

DEMO=examples/demo-project
BIN="${CARGO_TARGET_DIR:-target}/debug/spec-kitty"

cargo build -q
rm -f "$DEMO"/kitty-specs/*/execution.events.jsonl "$DEMO"/kitty-specs/*/.telemetry-clock.json

# Keep the user's own spec-kitty state and overrides out of the run.
SPEC_KITTY_HOME="$(mktemp -d)"
export SPEC_KITTY_HOME
trap 'rm -rf "$SPEC_KITTY_HOME"' EXIT
unset SPECIFY_REPO_ROOT SPEC_KITTY_STRICT

F1=001-bookmark-capture
F2=002-tags-and-search
F3=003-reading-list-export

# emit SEED TIME FEATURE ROLE [emit flags...]
emit() {
    local seed=$1 now=$2 feature=$3 role=$4
    shift 4
    SPEC_KITTY_ID_SEED="$seed" SPEC_KITTY_NOW="$now" \
        "$BIN" -C "$DEMO" agent telemetry emit --strict --feature "$feature" --role "$role" "$@" >/dev/null
}

# --- 001-bookmark-capture: specified, planned, four WPs implemented, reviewed and merged ---------
# specify, then a clarification pass
emit 101 2026-03-02T09:41:12Z $F1 specifier --agent claude --model claude-opus-4-6 \
    --input-tokens 18400 --output-tokens 6200 --cache-read-tokens 42000 --cache-write-tokens 12500 --duration-ms 1920000
emit 102 2026-03-02T10:26:40Z $F1 specifier --agent claude --model claude-opus-4-6 \
    --input-tokens 7300 --output-tokens 1900 --cache-read-tokens 55000 --duration-ms 610000
# research, plan, tasks, analyze
emit 103 2026-03-02T11:20:18Z $F1 planner --agent gemini --model gemini-2.5-flash \
    --input-tokens 38500 --output-tokens 5600 --duration-ms 840000
emit 104 2026-03-02T11:58:03Z $F1 planner --agent claude --model claude-opus-4-6 \
    --input-tokens 26100 --output-tokens 9800 --cost-usd 0.61 --duration-ms 2460000
emit 105 2026-03-02T14:12:29Z $F1 planner --agent claude --model claude-sonnet-4.5 \
    --input-tokens 31500 --output-tokens 11200 --cache-read-tokens 58000 --duration-ms 1380000
emit 106 2026-03-02T15:36:54Z $F1 planner --agent codex --model gpt-5.1-codex \
    --input-tokens 22400 --output-tokens 3300 --duration-ms 720000
# WP01: two implementation sessions, approved on first review
emit 107 2026-03-02T16:40:03Z $F1 implementer --wp-id WP01 --agent codex --model gpt-5.1-codex \
    --input-tokens 54000 --output-tokens 8900 --cost-usd 0.16 --duration-ms 2509000
emit 108 2026-03-03T08:52:30Z $F1 implementer --wp-id WP01 --agent codex --model gpt-5.1-codex \
    --input-tokens 142000 --output-tokens 23800 --cost-usd 0.42 --duration-ms 3150000
emit 109 2026-03-03T10:14:09Z $F1 reviewer --wp-id WP01 --agent claude --model claude-sonnet-4.5 \
    --input-tokens 38700 --output-tokens 3100 --cache-read-tokens 21000 --duration-ms 988000
# WP02: changes requested on the first review, reworked next morning
emit 110 2026-03-03T13:36:51Z $F1 implementer --wp-id WP02 --agent codex --model gpt-5.1-codex \
    --input-tokens 188500 --output-tokens 31400 --duration-ms 3925000
emit 111 2026-03-03T15:05:22Z $F1 reviewer --wp-id WP02 --agent claude --model claude-sonnet-4.5 \
    --input-tokens 44100 --output-tokens 5200 --duration-ms 854000
emit 112 2026-03-03T16:48:10Z $F1 implementer --wp-id WP03 --agent codex --model gpt-5.1-codex \
    --input-tokens 97400 --output-tokens 16900 --cost-usd 0.29 --duration-ms 3390000
emit 113 2026-03-04T09:20:44Z $F1 implementer --wp-id WP02 --agent codex --model gpt-5.1-codex \
    --input-tokens 61200 --output-tokens 9700 --cost-usd 0.18 --duration-ms 1567000
emit 114 2026-03-04T10:02:13Z $F1 reviewer --wp-id WP02 --agent claude --model claude-sonnet-4.5 \
    --input-tokens 29800 --output-tokens 2400 --cache-read-tokens 36000 --duration-ms 737000
emit 115 2026-03-04T11:31:57Z $F1 reviewer --wp-id WP03 --agent gemini --model gemini-2.5-pro \
    --input-tokens 52300 --output-tokens 4800 --duration-ms 775000
# WP04: Copilot reports $0 (seat licence) the first time and no cost at all the second time
emit 116 2026-03-04T14:05:36Z $F1 implementer --wp-id WP04 --agent copilot --model gpt-5.1 \
    --input-tokens 95000 --output-tokens 17000 --cost-usd 0 --duration-ms 2811000
emit 117 2026-03-04T16:22:18Z $F1 reviewer --wp-id WP04 --agent gemini --model gemini-2.5-pro \
    --input-tokens 47600 --output-tokens 3900 --duration-ms 768000
emit 118 2026-03-05T08:30:47Z $F1 implementer --wp-id WP04 --agent copilot --model gpt-5.1 \
    --input-tokens 33000 --output-tokens 5800 --duration-ms 1655000
emit 119 2026-03-05T09:05:33Z $F1 reviewer --wp-id WP04 --agent gemini --model gemini-2.5-pro \
    --input-tokens 31000 --output-tokens 2100 --duration-ms 673000
# merge, then a post-merge check recorded by a hook that passes no agent, model or tokens
emit 120 2026-03-05T10:12:40Z $F1 merger --agent claude --model claude-sonnet-4.5 \
    --input-tokens 12400 --output-tokens 1800 --cache-read-tokens 18000 --duration-ms 300000
emit 121 2026-03-05T10:40:05Z $F1 merger --duration-ms 95000

# --- 002-tags-and-search: WP01 done, WP02 back in review, WP03 in progress, WP04 planned -------
emit 122 2026-03-05T13:18:27Z $F2 specifier --agent claude --model claude-opus-4-6 \
    --input-tokens 22600 --output-tokens 7400 --cache-read-tokens 51000 --cache-write-tokens 14800 --duration-ms 1860000
emit 123 2026-03-05T14:02:55Z $F2 specifier --agent gemini --model gemini-2.5-pro \
    --input-tokens 16900 --output-tokens 2600 --duration-ms 540000
emit 124 2026-03-05T15:05:41Z $F2 planner --agent gemini --model gemini-2.5-flash \
    --input-tokens 44200 --output-tokens 6300 --duration-ms 910000
emit 125 2026-03-05T16:10:31Z $F2 planner --agent claude --model claude-opus-4-6 \
    --input-tokens 34800 --output-tokens 12600 --cost-usd 0.79 --duration-ms 2940000
emit 126 2026-03-06T09:05:14Z $F2 planner --agent codex --model gpt-5.1-codex \
    --input-tokens 41000 --output-tokens 15300 --duration-ms 1260000
emit 127 2026-03-06T09:40:22Z $F2 planner --agent claude --model claude-haiku-4.5 \
    --input-tokens 28000 --output-tokens 3100 --cache-read-tokens 19000 --duration-ms 480000
emit 128 2026-03-06T10:30:48Z $F2 implementer --wp-id WP01 --agent codex --model gpt-5.1-codex \
    --input-tokens 156000 --output-tokens 27400 --cost-usd 0.47 --duration-ms 2309000
emit 129 2026-03-06T11:55:02Z $F2 implementer --wp-id WP01 --agent codex --model gpt-5.1-codex \
    --input-tokens 40500 --output-tokens 6600 --duration-ms 5054000
emit 130 2026-03-06T14:20:06Z $F2 reviewer --wp-id WP01 --agent claude --model claude-sonnet-4.5 \
    --input-tokens 40200 --output-tokens 3600 --cache-read-tokens 25000 --duration-ms 742000
emit 131 2026-03-09T09:14:39Z $F2 implementer --wp-id WP02 --agent copilot --model claude-sonnet-4.5 \
    --input-tokens 120000 --output-tokens 21000 --duration-ms 4182000
# WP03: the first run hit the agent's time budget
emit 132 2026-03-09T11:50:22Z $F2 implementer --wp-id WP03 --agent codex --model gpt-5.1-codex \
    --input-tokens 98000 --output-tokens 12100 --duration-ms 2869000 \
    --failure --exit-code 1 --error "agent run exceeded its 45-minute budget while generating the 50,000-row benchmark database"
emit 133 2026-03-09T15:08:57Z $F2 implementer --wp-id WP03 --agent codex --model gpt-5.1-codex \
    --input-tokens 73000 --output-tokens 14800 --cost-usd 0.24 --duration-ms 2867000
emit 134 2026-03-10T08:41:30Z $F2 reviewer --wp-id WP02 --agent gemini --model gemini-2.5-pro \
    --input-tokens 58400 --output-tokens 6100 --duration-ms 795000
emit 135 2026-03-10T11:26:04Z $F2 implementer --wp-id WP02 --agent copilot --model claude-sonnet-4.5 \
    --input-tokens 48000 --output-tokens 8800 --duration-ms 2772000

# --- 003-reading-list-export: specified and planned, no work started ----------------------------
emit 136 2026-03-10T14:20:45Z $F3 specifier --agent gemini --model gemini-2.5-pro \
    --input-tokens 26400 --output-tokens 8100 --duration-ms 1343000
emit 137 2026-03-10T15:10:16Z $F3 specifier --agent claude --model claude-haiku-4.5 \
    --input-tokens 11800 --output-tokens 2400 --duration-ms 390000

emit 138 2026-03-11T09:33:19Z $F2 implementer --wp-id WP03 --agent codex --model gpt-5.1-codex \
    --input-tokens 84000 --output-tokens 15500 --duration-ms 2494000

# a clarification pass and the task breakdown run through a local model by a tool that passes no
# --agent; the pricing table has no price for it, so the cost report lists these as unpriced
emit 139 2026-03-11T10:02:11Z $F3 specifier --model llama-3.3-70b-instruct \
    --input-tokens 14200 --output-tokens 3900 --duration-ms 1320000
emit 140 2026-03-11T13:44:52Z $F3 planner --agent claude --model claude-opus-4-6 \
    --input-tokens 29900 --output-tokens 10400 --cache-read-tokens 47000 --cache-write-tokens 9800 --duration-ms 2580000
emit 141 2026-03-12T09:18:26Z $F3 planner --model llama-3.3-70b-instruct \
    --input-tokens 21000 --output-tokens 8800 --duration-ms 1980000
emit 142 2026-03-12T11:02:37Z $F3 planner --agent codex --model gpt-5.1-codex \
    --input-tokens 26800 --output-tokens 4100 --duration-ms 660000

echo "Wrote $(cat "$DEMO"/kitty-specs/*/execution.events.jsonl | wc -l | tr -d ' ') events to $DEMO/kitty-specs/*/execution.events.jsonl"
