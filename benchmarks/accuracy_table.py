"""The accuracy benchmark's table: mean ± standard deviation over seeds of
each method in each setting, as markdown."""

import json

import numpy as np

from benchmarks import common


def summarize(results, settings, methods, titles):
    rows = []
    for method in methods:
        row = [method]
        for setting in settings:
            entry = results.get(setting, {}).get(method, {})
            accuracies = entry.get("accuracies", {})
            if entry.get("skipped"):
                row.append("skipped")
            elif accuracies:
                values = 100 * np.array(list(accuracies.values()))
                std = values.std(ddof=1) if len(values) > 1 else 0.0
                row.append(f"{values.mean():.2f} ± {std:.2f} (n={len(values)})")
            else:
                row.append("-")
        rows.append(row)
    return common.markdown_table(
        ["method"] + [f"({s}) {titles[s]}" for s in settings], rows)


def print_report(paths, methods, titles):
    """The markdown table of one or more result files (settings merged)."""
    results, settings = {}, []
    for path in paths:
        with open(path) as f:
            report = json.load(f)
        print(f"{path}: {report['command']}; teacher "
              f"{100 * report['teacher']['test_accuracy']:.2f}%; seeds {report['seeds']}; "
              f"{report['epochs']} epochs")
        for setting, entries in report["results"].items():
            results.setdefault(setting, {}).update(entries)
    settings = sorted(results)
    print(summarize(results, settings, [m for m in methods if any(
        m in results[s] for s in settings)], titles))
