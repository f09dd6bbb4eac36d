#!/usr/bin/env python3
"""Writes cn-holidays.json: China's official days off and make-up working days (调休), per year.

The deadline engine counts natural and working days against this file only; it never guesses a
year that is not in it. The days come from the State Council General Office's yearly notice on
public-holiday arrangements (国务院办公厅关于某年部分节假日安排的通知, published each
October–December for the next year), as transcribed by one of two sources:

  lunar-go         the holiday table of the Go module github.com/6tail/lunar-go (v1.4.7 runs
                   to 2027). Read as data with the Python standard library; the Go tool only
                   downloads the module. The shipped file is written from this source.
  chinesecalendar  the PyPI package `chinesecalendar` (1.11.0 has 2004–2026). Needed only to
                   write from it or to cross-check lunar-go against it.

To regenerate from lunar-go (after a module release with the next year's notice):

    python3 ops/calendar/generate.py                      # rewrites ops/calendar/cn-holidays.json
    python3 ops/calendar/generate.py --check              # exits 1 if the file is out of date
    python3 ops/calendar/generate.py --lunar-go-version VERSION   # a release other than v1.4.7

The script runs `go mod download -json github.com/6tail/lunar-go@VERSION` itself; with
--lunar-go-dir DIR it reads a module directory already downloaded instead (the "Dir" that command
prints). lunar-go does not say which days off were given in exchange for make-up working days
(in_lieu); the rule in `in_lieu_days` derives them, and the cross-check shows that it reproduces
chinesecalendar's flags for 2024–2026.

To cross-check lunar-go against chinesecalendar on the years both cover from --first-year on
(2024–2026 with chinesecalendar 1.11.0), and to regenerate from chinesecalendar:

    python3 -m venv "$VENV" && "$VENV/bin/pip" install chinesecalendar==1.11.0
    "$VENV/bin/python" ops/calendar/generate.py --cross-check   # exits 1 on any difference
    "$VENV/bin/python" ops/calendar/generate.py --source chinesecalendar

where $VENV is any scratch directory. Writing never silently changes the past: it refuses if a
year the file already covers would change or disappear (--allow-changes overrides that, for a
correction checked against the notice), and a write from lunar-go first runs the cross-check when
chinesecalendar is importable. Then check the new year's dates against the notice itself before
committing: a wrong day here moves legal deadlines. The last days of the newest year can still be
changed by the following year's notice (a New Year block can start on December 30th, and a
December weekend can become a make-up working day), so look at them again when it is out.

Options: --first-year (default 2024) and --last-year (default: the source's last year) bound the
years written or cross-checked; --output names another file.
"""

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUTPUT = os.path.join(HERE, "cn-holidays.json")
DEFAULT_FIRST_YEAR = 2024
NOTICES = "the State Council General Office's yearly notices on public-holiday arrangements"

LUNAR_GO_MODULE = "github.com/6tail/lunar-go"
LUNAR_GO_DEFAULT_VERSION = "v1.4.7"
LUNAR_GO_DATA_FILE = os.path.join("HolidayUtil", "HolidayUtil.go")
LUNAR_GO_RECORD_SIZE = 18

# The names the file has always used (chinesecalendar's), by lunar-go's Chinese name.
# 国庆中秋 (National Day and Mid-autumn together) is resolved per day in `english_name`.
NAMES_BY_LUNAR_GO_NAME = {
    "元旦节": ("New Year's Day", "元旦"),
    "春节": ("Spring Festival", "春节"),
    "清明节": ("Tomb-sweeping Day", "清明"),
    "劳动节": ("Labour Day", "劳动节"),
    "端午节": ("Dragon Boat Festival", "端午"),
    "中秋节": ("Mid-autumn Festival", "中秋"),
    "国庆节": ("National Day", "国庆节"),
    "抗战胜利日": ("Anti-Fascist 70th Day", "中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日"),
}
COMBINED_NATIONAL_DAY_MID_AUTUMN = "国庆中秋"

# The day of the Mid-autumn Festival (15th day of the 8th lunar month) in the years lunar-go
# records a combined 国庆中秋 block: its target is October 1st, so the table cannot tell which
# day of the block is the festival itself, and the file names that day "Mid-autumn Festival".
MID_AUTUMN_IN_COMBINED_BLOCKS = {
    2020: datetime.date(2020, 10, 1),
    2025: datetime.date(2025, 10, 6),
}

# Weekend days lunar-go lists as days off of a holiday but chinesecalendar does not: the weekend
# before Monday 2024-06-10, which the 2024 notice joined to the Dragon Boat Festival without
# counting it in the holiday. Both are rest days whichever source is right, so no working-day
# answer depends on them; dropping them keeps the file's 2024 as it was. The cross-check shows
# them, and the reader refuses an entry here that is not a weekend day lunar-go lists as off.
WEEKEND_DAYS_LEFT_OUT = {
    datetime.date(2024, 6, 8): "weekend joined to the 2024 Dragon Boat Festival",
    datetime.date(2024, 6, 9): "weekend joined to the 2024 Dragon Boat Festival",
}

# From 2008 on every year has these festivals; a year missing one is incomplete data.
FESTIVALS_SINCE_2008 = ("New Year's Day", "Spring Festival", "Tomb-sweeping Day", "Labour Day",
                        "Dragon Boat Festival", "Mid-autumn Festival", "National Day")

CHINESECALENDAR_INSTALL_HINT = (
    "install it into a scratch virtual environment and run this script with that Python:\n"
    '    python3 -m venv "$VENV" && "$VENV/bin/pip" install chinesecalendar==1.11.0\n'
    '    "$VENV/bin/python" ops/calendar/generate.py ...')


def fail(message):
    sys.exit(f"generate.py: {message}")


def is_weekend(day):
    return day.weekday() >= 5


def check_year_entry(year, entry):
    """The invariants the C++ loader also enforces, caught here with a clearer message."""
    if not entry["holidays"]:
        fail(f"the source has no holidays for {year}")
    for row in entry["makeup_workdays"]:
        if not is_weekend(datetime.date.fromisoformat(row["date"])):
            fail(f"{row['date']} is listed as a make-up working day but is not a weekend day")
    return entry


# ---------------------------------------------------------------------------------------------
# Source: the PyPI package chinesecalendar


def import_chinese_calendar():
    """The package's module, or None if it is not installed."""
    try:
        import chinese_calendar
    except ImportError:
        return None
    return chinese_calendar


class ChineseCalendarSource:
    label = "chinesecalendar"

    def __init__(self, package):
        self.constants = package.constants
        self.version = package.__version__
        self.first_year = min(self.constants.holidays).year
        self.last_year = max(self.constants.holidays).year
        self.description = f"PyPI chinesecalendar {self.version}, transcribing {NOTICES}"
        self.notes = []

    def names(self, english):
        holiday = self.constants.Holiday(english)
        return holiday.value, holiday.chinese

    def year_entry(self, year):
        holidays = []
        for day, english in sorted(self.constants.holidays.items()):
            if day.year != year:
                continue
            name, name_zh = self.names(english)
            holidays.append({
                "date": day.isoformat(),
                "name": name,
                "name_zh": name_zh,
                # A rest day given in exchange for a make-up working day (调休), as the package
                # marks it.
                "in_lieu": day in self.constants.in_lieu_days,
            })
        makeup = []
        for day, english in sorted(self.constants.workdays.items()):
            if day.year != year:
                continue
            name, name_zh = self.names(english)
            makeup.append({"date": day.isoformat(), "name": name, "name_zh": name_zh})
        return check_year_entry(year, {"holidays": holidays, "makeup_workdays": makeup})


# ---------------------------------------------------------------------------------------------
# Source: the holiday table of the Go module lunar-go
#
# HolidayUtil.go holds the table as one string constant `data` of fixed-size records, and the
# festival names as the string slice `NAMES`. A record is 18 digits:
#   YYYYMMDD  the day
#   N         index into NAMES: the festival
#   W         '0' if the day is a make-up working day, '1' if it is a day off
#   YYYYMMDD  the festival's own day (the "target"), which ties every record to its holiday block


def parse_date(digits, where):
    try:
        return datetime.date(int(digits[0:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        fail(f"{where}: '{digits}' is not a date")


class LunarGoRecord:
    def __init__(self, day, festival, day_off, target):
        self.day = day
        self.festival = festival  # lunar-go's Chinese name
        self.day_off = day_off
        self.target = target


def read_go_constants(go_source, path):
    """The `data` string and the `NAMES` slice of HolidayUtil.go."""
    size = re.search(r"^const size = (\d+)$", go_source, re.M)
    if not size or int(size.group(1)) != LUNAR_GO_RECORD_SIZE:
        fail(f"{path}: records are no longer {LUNAR_GO_RECORD_SIZE} characters long; "
             "the layout this script reads has changed")
    data = re.search(r'^const data = "([^"]*)"$', go_source, re.M)
    names = re.search(r"^var NAMES = \[\]string\{([^}]*)\}$", go_source, re.M)
    if not data or not names:
        fail(f"{path}: no `const data` string or `var NAMES` slice; the layout has changed")
    return data.group(1), re.findall(r'"([^"]*)"', names.group(1))


def parse_records(data, names, path):
    if len(data) % LUNAR_GO_RECORD_SIZE:
        fail(f"{path}: the data is not a whole number of {LUNAR_GO_RECORD_SIZE}-digit records")
    records = []
    for start in range(0, len(data), LUNAR_GO_RECORD_SIZE):
        text = data[start:start + LUNAR_GO_RECORD_SIZE]
        where = f"{path}: record '{text}'"
        if not text.isdigit() or text[9] not in "01" or int(text[8]) >= len(names):
            fail(f"{where} does not have the layout day, name index, 0/1, target day")
        records.append(LunarGoRecord(day=parse_date(text[0:8], where), festival=names[int(text[8])],
                                     day_off=text[9] == "1", target=parse_date(text[10:18], where)))
    days = [r.day for r in records]
    if days != sorted(set(days)):
        fail(f"{path}: the days are not in strictly ascending order")
    return records


def holiday_blocks(records):
    """Days off and make-up working days per holiday, keyed by the festival's own day."""
    blocks, makeups = {}, {}
    for record in records:
        (blocks if record.day_off else makeups).setdefault(record.target, []).append(record.day)
    return blocks, makeups


def check_blocks(blocks, targets):
    """Refuses holidays whose days off are not one block. Only the holidays written are checked:
    the table has slips in years long past (a 2014 National Day day tied to 10-04, not 10-01)."""
    for target in sorted(targets):
        days = blocks.get(target)
        if not days:
            fail(f"lunar-go: make-up working days for {target}, a holiday with no days off")
        if (days[-1] - days[0]).days + 1 != len(days):
            fail(f"lunar-go: the days off of the holiday of {target} are not one unbroken block")


def in_lieu_days(blocks, makeups, targets):
    """The days off given in exchange for make-up working days (调休); lunar-go does not mark them.

    Rule: in each holiday block, the last N weekdays other than the festival's own day, where N is
    the number of make-up working days of that holiday. Recent notices lay a block out as the
    statutory days first (with the weekdays that replace statutory days falling on a weekend),
    then the days bought with make-up work, so the exchanged days are the block's last weekdays.
    The festival's own day is statutory even where it ends the block, as Mid-autumn 2024
    (Tue 09-17) does: there the exchanged day is Mon 09-16.

    The cross-check shows that the rule reproduces chinesecalendar's flags for 2024-2026. It does
    not for some older years: before 2025 the Spring Festival's eve was not a statutory day, and
    in 2018 and 2019 the block began with it as an exchanged day. The C++ loader does not read
    the flag; it is there for people reading the file.
    """
    result = set()
    for target in targets:
        days = blocks[target]
        owed = len(makeups.get(target, ()))
        if owed == 0:
            continue
        candidates = [day for day in days if not is_weekend(day) and day != target]
        if owed > len(candidates):
            fail(f"lunar-go: the holiday of {target} has {owed} make-up working days but only "
                 f"{len(candidates)} weekdays to exchange them for")
        result.update(candidates[-owed:])
    return result


def english_name(record):
    """(name, name_zh) for a record, splitting a combined 国庆中秋 block by day."""
    if record.festival != COMBINED_NATIONAL_DAY_MID_AUTUMN:
        if record.festival not in NAMES_BY_LUNAR_GO_NAME:
            fail(f"lunar-go: unknown festival name {record.festival!r} on {record.day}")
        return NAMES_BY_LUNAR_GO_NAME[record.festival]
    year = record.target.year
    if year not in MID_AUTUMN_IN_COMBINED_BLOCKS:
        fail(f"lunar-go: a combined 国庆中秋 holiday in {year}; add that year's Mid-autumn "
             "Festival day (15th of the 8th lunar month) to MID_AUTUMN_IN_COMBINED_BLOCKS")
    mid_autumn = MID_AUTUMN_IN_COMBINED_BLOCKS[year]
    # The festival's own day carries its name, unless it is one of National Day's own three days
    # (2020-10-01); every other day, make-up working days included, is National Day's.
    national_day_own = datetime.date(year, 10, 1) <= record.day <= datetime.date(year, 10, 3)
    if record.day_off and record.day == mid_autumn and not national_day_own:
        return NAMES_BY_LUNAR_GO_NAME["中秋节"]
    return NAMES_BY_LUNAR_GO_NAME["国庆节"]


def download_lunar_go(version):
    """The module directory, fetched through the Go module proxy by the Go tool."""
    command = ["go", "mod", "download", "-json", f"{LUNAR_GO_MODULE}@{version}"]
    # Outside any Go module, so that no go.mod around the working directory is read or changed.
    with tempfile.TemporaryDirectory() as scratch:
        try:
            run = subprocess.run(command, cwd=scratch, capture_output=True, text=True)
        except FileNotFoundError:
            fail("reading lunar-go needs the Go tool to download the module, or --lunar-go-dir "
                 "naming a module directory already downloaded")
    try:
        info = json.loads(run.stdout)
    except json.JSONDecodeError:
        info = {}
    if run.returncode != 0 or "Error" in info or "Dir" not in info:
        fail(f"`{' '.join(command)}` failed: {info.get('Error') or run.stderr.strip()}")
    return info["Dir"], info["Version"]


def lunar_go_version_of(directory, version):
    """The module version: the module cache names directories module@version."""
    match = re.search(r"@(v[^/\\]+)$", os.path.normpath(directory))
    if match and version and match.group(1) != version:
        fail(f"--lunar-go-dir is version {match.group(1)} but --lunar-go-version says {version}")
    if match:
        return match.group(1)
    if not version:
        fail("--lunar-go-dir does not end in @VERSION; give the module's version with "
             "--lunar-go-version so that the file names its source honestly")
    return version


class LunarGoSource:
    label = "lunar-go"

    def __init__(self, directory, version):
        self.version = version
        path = os.path.join(directory, LUNAR_GO_DATA_FILE)
        try:
            with open(path, encoding="utf-8") as f:
                go_source = f.read()
        except OSError as error:
            fail(f"cannot read lunar-go's holiday table: {error}")
        records = parse_records(*read_go_constants(go_source, path), path)
        self.blocks, self.makeups = holiday_blocks(records)
        self.records = self.leave_out_weekend_days(records)
        targets = {r.target for r in records}
        self.first_year = min(targets).year
        self.last_year = max(targets).year
        self.description = (f"Go module {LUNAR_GO_MODULE} {version} (its holiday table), "
                            f"transcribing {NOTICES}; in_lieu derived by "
                            "ops/calendar/generate.py")

    def leave_out_weekend_days(self, records):
        listed_off = {r.day for r in records if r.day_off}
        for day in WEEKEND_DAYS_LEFT_OUT:
            if day not in listed_off or not is_weekend(day):
                fail(f"WEEKEND_DAYS_LEFT_OUT names {day}, which is not a weekend day lunar-go "
                     "lists as a day off; the entry is stale")
        self.notes = [f"lunar-go's {day} ({day:%a}) left out: {why}"
                      for day, why in sorted(WEEKEND_DAYS_LEFT_OUT.items())]
        return [r for r in records if r.day not in WEEKEND_DAYS_LEFT_OUT]

    def check_complete(self, year):
        if year < 2008:
            return
        present = set()
        for record in self.records:
            if record.target.year == year:
                present.add(english_name(record)[0])
                if record.festival == COMBINED_NATIONAL_DAY_MID_AUTUMN:
                    present.add("Mid-autumn Festival")  # even where its day is named National Day
        missing = [f for f in FESTIVALS_SINCE_2008 if f not in present]
        if missing:
            fail(f"lunar-go {self.version} has no {', '.join(missing)} for {year}: "
                 "the year's data is incomplete")

    def year_entry(self, year):
        self.check_complete(year)
        # Every holiday with a day in the year, whole, even where its block starts the year before.
        targets = {r.target for r in self.records if r.day.year == year}
        check_blocks(self.blocks, targets)
        in_lieu = in_lieu_days(self.blocks, self.makeups, targets)
        holidays, makeup = [], []
        for record in self.records:
            if record.day.year != year:
                continue
            name, name_zh = english_name(record)
            row = {"date": record.day.isoformat(), "name": name, "name_zh": name_zh}
            if record.day_off:
                holidays.append({**row, "in_lieu": record.day in in_lieu})
            else:
                makeup.append(row)
        return check_year_entry(year, {"holidays": holidays, "makeup_workdays": makeup})


# ---------------------------------------------------------------------------------------------
# Writing, comparing


def render(source, first_year, last_year):
    years = list(range(first_year, last_year + 1))
    # Hand-laid JSON: one day per line keeps the yearly diff readable.
    out = ["{"]

    def field(key, value, last=False):
        out.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}{'' if last else ','}")

    field("description", "Official days off (holidays, including the weekend days inside an "
          "announced holiday block) and make-up working days (调休) in mainland China. Any day "
          "not listed is a working day Monday to Friday and a rest day on Saturday and Sunday.")
    field("time_zone", "Asia/Shanghai")
    field("source", source.description)
    field("regenerate", "ops/calendar/generate.py (see its header)")
    field("covered_years", years)
    out.append('  "years": {')
    for yi, year in enumerate(years):
        entry = source.year_entry(year)
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


def describe_day(row):
    if row is None:
        return "not listed"
    if "in_lieu" not in row:
        return f"make-up working day, {row['name']} ({row['name_zh']})"
    lieu = ", in lieu" if row["in_lieu"] else ""
    return f"day off, {row['name']} ({row['name_zh']}){lieu}"


def entry_differences(entry_a, entry_b, label_a, label_b):
    """One line per date on which two year entries disagree in any field."""
    def by_date(entry):
        return {row["date"]: row for key in ("holidays", "makeup_workdays") for row in entry[key]}
    a, b = by_date(entry_a), by_date(entry_b)
    return [f"{date}: {label_a}: {describe_day(a.get(date))}; "
            f"{label_b}: {describe_day(b.get(date))}"
            for date in sorted(set(a) | set(b)) if a.get(date) != b.get(date)]


def summary(entry):
    lieu = sum(row["in_lieu"] for row in entry["holidays"])
    return (f"{len(entry['holidays'])} days off ({lieu} in lieu), "
            f"{len(entry['makeup_workdays'])} make-up working days")


def cross_check(lunar, package, first_year, last_year):
    """Compares lunar-go with chinesecalendar on the years both cover; True if identical."""
    first = max(first_year, lunar.first_year, package.first_year)
    last = min(last_year, lunar.last_year, package.last_year)
    if first > last:
        fail(f"no year in {first_year}..{last_year} is covered by both sources")
    print(f"cross-check: lunar-go {lunar.version} against chinesecalendar {package.version}, "
          f"{first}..{last}")
    for note in lunar.notes:
        print(f"  note: {note}")
    agree = True
    for year in range(first, last + 1):
        ours, theirs = lunar.year_entry(year), package.year_entry(year)
        differences = entry_differences(ours, theirs, "lunar-go", "chinesecalendar")
        if differences:
            agree = False
            print(f"  {year}: {len(differences)} differences")
            for line in differences:
                print(f"    {line}")
        else:
            print(f"  {year}: identical: {summary(ours)}")
    print(f"cross-check: {'the sources agree' if agree else 'THE SOURCES DISAGREE'}")
    return agree


def changes_to_covered_years(path, new_text):
    """Lines describing how new_text would change or drop years the file at path covers."""
    try:
        with open(path, encoding="utf-8") as f:
            current = json.load(f)
        covered = current["covered_years"]
    except (OSError, ValueError, KeyError):
        return []  # nothing readable to protect
    new = json.loads(new_text)
    lines = []
    for year in covered:
        key = str(year)
        if key not in new["years"]:
            lines.append(f"{year}: would no longer be covered")
            continue
        for line in entry_differences(current["years"][key], new["years"][key], "now", "new"):
            lines.append(line)
    return lines


# ---------------------------------------------------------------------------------------------


def make_lunar_go_source(args):
    if args.lunar_go_dir:
        directory = args.lunar_go_dir
        version = lunar_go_version_of(directory, args.lunar_go_version)
    else:
        directory, version = download_lunar_go(args.lunar_go_version or LUNAR_GO_DEFAULT_VERSION)
    return LunarGoSource(directory, version)


def chinese_calendar_source(purpose):
    package = import_chinese_calendar()
    if package is None:
        fail(f"{purpose} needs the package 'chinesecalendar', which is not installed; "
             f"{CHINESECALENDAR_INSTALL_HINT}")
    return ChineseCalendarSource(package)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=("lunar-go", "chinesecalendar"), default="lunar-go")
    parser.add_argument("--lunar-go-dir", help="a downloaded lunar-go module directory")
    parser.add_argument("--lunar-go-version",
                        help=f"lunar-go version to download (default {LUNAR_GO_DEFAULT_VERSION})")
    parser.add_argument("--first-year", type=int, default=DEFAULT_FIRST_YEAR)
    parser.add_argument("--last-year", type=int, help="default: the source's last year")
    parser.add_argument("--output", default=DEFAULT_OUTPUT)
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if --output differs from what would be written")
    parser.add_argument("--cross-check", action="store_true",
                        help="do not write; compare lunar-go with chinesecalendar on the years "
                             "both cover, exit 1 on any difference")
    parser.add_argument("--allow-changes", action="store_true",
                        help="write even if years the file already covers change or disappear")
    return parser.parse_args()


def main():
    args = parse_args()
    if args.cross_check:
        package = chinese_calendar_source("--cross-check")
        lunar = make_lunar_go_source(args)
        ok = cross_check(lunar, package, args.first_year, args.last_year or 9999)
        return 0 if ok else 1

    if args.source == "chinesecalendar":
        source = chinese_calendar_source("--source chinesecalendar")
    else:
        source = make_lunar_go_source(args)
    last_year = args.last_year or source.last_year
    if not source.first_year <= args.first_year <= last_year <= source.last_year:
        fail(f"years {args.first_year}..{last_year} requested, but {source.label} "
             f"{source.version} covers {source.first_year}..{source.last_year}")
    text = render(source, args.first_year, last_year)

    if args.check:
        try:
            with open(args.output, encoding="utf-8") as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current != text:
            print(f"{args.output} is out of date; run ops/calendar/generate.py", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date ({args.first_year}..{last_year})")
        return 0

    if args.source == "lunar-go":
        package = import_chinese_calendar()
        if package is None:
            print("generate.py: chinesecalendar is not installed, so no cross-check; the years "
                  "the file already covers are still compared below", file=sys.stderr)
        elif not cross_check(source, ChineseCalendarSource(package), args.first_year, last_year):
            fail("not written: lunar-go and chinesecalendar disagree (see above)")
    changes = changes_to_covered_years(args.output, text)
    if changes and not args.allow_changes:
        print("\n".join(f"  {line}" for line in changes), file=sys.stderr)
        fail(f"not written: {args.output} would change on years it already covers (above); "
             "check them against the notices and rerun with --allow-changes if they are right")
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {args.output}: {args.first_year}..{last_year} from {source.description}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
