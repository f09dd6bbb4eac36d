#!/usr/bin/env python3
"""Writes cn-holidays.json: China's official days off and make-up working days (调休), per year.

The deadline engine counts natural and working days against this file only; it never guesses a
year that is not in it. The data comes from the PyPI package `chinesecalendar`, which transcribes
the State Council General Office's yearly notice on public-holiday arrangements
(国务院办公厅关于某年部分节假日安排的通知, published each October–December for the next year).

To regenerate (e.g. after the next year's notice is out and the package has a release with it):

    python3 -m venv "$VENV" && "$VENV/bin/pip" install --upgrade chinesecalendar
    "$VENV/bin/python" ops/calendar/generate.py            # rewrites ops/calendar/cn-holidays.json
    "$VENV/bin/python" ops/calendar/generate.py --check    # exits 1 if the file is out of date

where $VENV is any scratch directory. Then check the new year's dates against the notice itself
before committing: a wrong day here moves legal deadlines.

Options: --first-year (default 2024) and --last-year (default: the package's last year) bound
the years written; --output names another file.
"""

import argparse
import datetime
import json
import os
import sys

try:
    import chinese_calendar
    from chinese_calendar import constants
except ImportError:
    sys.exit("generate.py: the package 'chinesecalendar' is not installed; see the header of this "
             "script for how to install it into a scratch virtual environment")

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUTPUT = os.path.join(HERE, "cn-holidays.json")
DEFAULT_FIRST_YEAR = 2024


def holiday_names(english):
    """English and Chinese name of a holiday as the package records it."""
    holiday = constants.Holiday(english)
    return holiday.value, holiday.chinese


def year_entry(year):
    holidays = []
    for day, english in sorted(constants.holidays.items()):
        if day.year != year:
            continue
        name, name_zh = holiday_names(english)
        holidays.append({
            "date": day.isoformat(),
            "name": name,
            "name_zh": name_zh,
            # A rest day given in exchange for a make-up working day (调休), as the package marks it.
            "in_lieu": day in constants.in_lieu_days,
        })
    makeup = []
    for day, english in sorted(constants.workdays.items()):
        if day.year != year:
            continue
        if day.weekday() < 5:
            sys.exit(f"generate.py: {day} is listed as a make-up working day but is not a weekend day")
        name, name_zh = holiday_names(english)
        makeup.append({"date": day.isoformat(), "name": name, "name_zh": name_zh})
    if not holidays:
        sys.exit(f"generate.py: the package has no holidays for {year}")
    return {"holidays": holidays, "makeup_workdays": makeup}


def render(first_year, last_year):
    years = list(range(first_year, last_year + 1))
    # Hand-laid JSON: one day per line keeps the yearly diff readable.
    out = ["{"]

    def field(key, value, last=False):
        out.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}{'' if last else ','}")

    field("description", "Official days off (holidays, including the weekend days inside an "
          "announced holiday block) and make-up working days (调休) in mainland China. Any day "
          "not listed is a working day Monday to Friday and a rest day on Saturday and Sunday.")
    field("time_zone", "Asia/Shanghai")
    field("source", f"PyPI chinesecalendar {chinese_calendar.__version__}, transcribing the State "
          "Council General Office's yearly notices on public-holiday arrangements")
    field("regenerate", "ops/calendar/generate.py (see its header)")
    field("covered_years", years)
    out.append('  "years": {')
    for yi, year in enumerate(years):
        entry = year_entry(year)
        out.append(f'    "{year}": {{')
        for ki, key in enumerate(("holidays", "makeup_workdays")):
            out.append(f'      "{key}": [')
            rows = entry[key]
            for ri, row in enumerate(rows):
                sep = "," if ri + 1 < len(rows) else ""
                out.append(f"        {json.dumps(row, ensure_ascii=False)}{sep}")
            out.append("      ]" + ("," if ki == 0 else ""))
        out.append("    }" + ("," if yi + 1 < len(years) else ""))
    out.append("  }")
    out.append("}")
    text = "\n".join(out) + "\n"
    json.loads(text)  # the hand-laid text must still be valid JSON
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    package_last = max(constants.holidays).year
    parser.add_argument("--first-year", type=int, default=DEFAULT_FIRST_YEAR)
    parser.add_argument("--last-year", type=int, default=package_last)
    parser.add_argument("--output", default=DEFAULT_OUTPUT)
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if --output differs from what would be written")
    args = parser.parse_args()
    package_first = min(constants.holidays).year
    if not package_first <= args.first_year <= args.last_year <= package_last:
        sys.exit(f"generate.py: years {args.first_year}..{args.last_year} requested, but "
                 f"chinesecalendar {chinese_calendar.__version__} covers {package_first}..{package_last}")
    text = render(args.first_year, args.last_year)
    if args.check:
        try:
            with open(args.output, encoding="utf-8") as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current != text:
            print(f"{args.output} is out of date; run ops/calendar/generate.py", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date ({args.first_year}..{args.last_year})")
        return 0
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {args.output}: {args.first_year}..{args.last_year}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
