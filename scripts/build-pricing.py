#!/usr/bin/env python3
"""Regenerate pricing.yaml from a LiteLLM price list.

Usage: scripts/build-pricing.py [LITELLM_JSON] > pricing.yaml
Default input: ../shared/reference/pricing-litellm-subset.json (a subset of LiteLLM's
model_prices_and_context_window_backup.json). Keeps Anthropic, OpenAI and Google models, converts per-token
prices to per-1k, folds dated ids whose prices equal their undated base into that entry's aliases, and
adds dotted aliases (claude-sonnet-4-5 -> claude-sonnet-4.5) that agents commonly report.
"""
import datetime
import json
import re
import sys
from decimal import Decimal

PROVIDERS = {"anthropic", "openai", "gemini", "vertex_ai-language-models"}
DATED = re.compile(r"^(?P<base>.+?)-(?:\d{8}|\d{4}-\d{2}-\d{2})$")
FIELDS = [
    ("input_per_1k", "input_cost_per_token"),
    ("output_per_1k", "output_cost_per_token"),
    ("cache_read_per_1k", "cache_read_input_token_cost"),
    ("cache_write_per_1k", "cache_creation_input_token_cost"),
    ("cache_write_1h_per_1k", "cache_creation_input_token_cost_above_1hr"),
]
GROUPS = [("Anthropic", ("anthropic",)), ("OpenAI", ("openai",)), ("Google", ("gemini", "vertex_ai-language-models"))]


def per_1k(value):
    text = format(Decimal(repr(value)) * 1000, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def prices(entry):
    return {ours: per_1k(entry[theirs]) for ours, theirs in FIELDS if entry.get(theirs) is not None}


def dotted_alias(model_id):
    # claude-sonnet-4-5 -> claude-sonnet-4.5 ; claude-opus-4-6 -> claude-opus-4.6
    m = re.match(r"^(claude-[a-z]+-\d+)-(\d+)$", model_id)
    return f"{m.group(1)}.{m.group(2)}" if m else None


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "../shared/reference/pricing-litellm-subset.json"
    with open(path) as f:
        data = json.load(f)
    source = data.get("source", path)
    models = data.get("models", data)
    kept = {k: v for k, v in models.items() if v.get("litellm_provider") in PROVIDERS and "input_cost_per_token" in v}

    entries = {}
    for model_id in sorted(kept):
        m = DATED.match(model_id)
        base = m.group("base") if m else None
        if base in kept and prices(kept[base]) == prices(kept[model_id]):
            continue  # becomes an alias of its base below
        entries[model_id] = {"prices": prices(kept[model_id]), "aliases": [], "provider": kept[model_id]["litellm_provider"]}
    for model_id in sorted(kept):
        m = DATED.match(model_id)
        if m and model_id not in entries and m.group("base") in entries:
            entries[m.group("base")]["aliases"].append(model_id)
    for model_id, entry in entries.items():
        alias = dotted_alias(model_id)
        if alias:
            entry["aliases"].insert(0, alias)

    out = sys.stdout
    out.write("# spec-kitty pricing table: USD per 1,000 tokens.\n")
    out.write(f"# Source: {source}.\n")
    out.write(f"# Generated on {datetime.date.today().isoformat()} by scripts/build-pricing.py; edit that script, not this file.\n")
    out.write("# Shape (upstream-compatible): models: {id: {input_per_1k, output_per_1k}} plus optional\n")
    out.write("# cache_read_per_1k, cache_write_per_1k (default: the input rate), cache_write_1h_per_1k (writes to\n")
    out.write("# Anthropic's 1-hour cache; default: the cache_write rate) and aliases.\n")
    out.write("# Override entries in ~/.spec-kitty/pricing.yaml or .kittify/pricing.yaml (same shape).\n")
    out.write("models:\n")
    for title, providers in GROUPS:
        out.write(f"  # {title}\n")
        for model_id, entry in entries.items():
            if entry["provider"] not in providers:
                continue
            out.write(f"  {model_id}:\n")
            for key, value in entry["prices"].items():
                out.write(f"    {key}: {value}\n")
            if entry["aliases"]:
                out.write(f"    aliases: [{', '.join(entry['aliases'])}]\n")


if __name__ == "__main__":
    main()
