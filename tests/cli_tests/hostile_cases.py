"""The hostile-input matrix: bad inputs to every ``hwlat`` command, each with the exit code and the
names its message must show (:class:`tests.cli_tests.hostile.Case`).

Exit codes (README, "Exit codes"): 2 for a usage error -- an unknown option or choice, a missing
argument, an option value that is wrong whatever the files say (``--rounds 0``, ``-n abc``,
``--budget nan``): argparse's ``type=`` or ``parser.error``; 1 for bad input -- a file that is
missing, empty, truncated, of another kind or crafted, an unknown device, space member or
accuracy source, a value that is wrong for the files given. A case that passes its bad value
through must still fail fast: the other options keep every command small (an op list of one op,
``--quick``, a handful of networks), so that nothing measures a whole space.

:data:`CASES` is the one list; ``tests/cli_tests/test_matrix.py`` and
``benchmarks/bench_hostile.py`` both read it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tests.cli_tests.hostile import Case

USAGE, BAD = 2, 1

# -- the kinds of bad file, by what the argument should be --------------------------------------------
# (suffix of the case id, the argument, the name the message must show)

TABLES: list[tuple[str, str, str]] = [
    ("missing", "{missing}", "does-not-exist.parquet"),
    ("folder", "{folder}", "a-folder.parquet"),
    ("empty-parquet", "{empty_parquet}", "empty.parquet"),
    ("empty-csv", "{empty_csv}", "empty.csv"),
    ("garbage-parquet", "{garbage_parquet}", "garbage.parquet"),
    ("garbage-csv", "{garbage_csv}", "garbage.csv"),
    ("truncated-parquet", "{trunc_parquet}", "truncated.parquet"),
    ("truncated-parquet-tail", "{trunc_parquet_tail}", "truncated-tail.parquet"),
    ("truncated-csv", "{trunc_csv}", "truncated.csv"),
    ("foreign-parquet", "{foreign_parquet}", "not-a-table.parquet"),
    ("bad-metadata-csv", "{badmeta_csv}", "bad-metadata.csv"),
    ("nan-latency-csv", "{nan_csv}", "nan-latency.csv"),
    ("negative-latency-csv", "{neg_csv}", "neg-latency.csv"),
    ("inf-latency-csv", "{inf_csv}", "inf-latency.csv"),
    ("onnx-named-parquet", "{onnx_as_table}", "onnx_as_table.parquet"),
    ("npz-named-parquet", "{npz_as_table}", "npz_as_table.parquet"),
    ("onnx-model", "{onnx}", "model.onnx"),
    ("predictor-npz", "{predictor}", "nb201-predictor.npz"),
    ("fifo", "{fifo_parquet}", "fifo.parquet"),
    ("dev-null", "/dev/null", "/dev/null"),
    ("non-utf8-missing", "{nonutf8_missing}", "nonutf8-"),
]
#: the few kinds used where a table is one argument among many
TABLES_SHORT = [t for t in TABLES if t[0] in ("missing", "folder", "garbage-parquet", "truncated-parquet",
                                               "onnx-named-parquet", "fifo", "dev-null", "nan-latency-csv")]
TABLES_MIN = [t for t in TABLES if t[0] in ("missing", "garbage-parquet", "truncated-parquet", "fifo")]

PREDICTORS: list[tuple[str, str, str]] = [
    ("missing", "{missing_npz}", "does-not-exist.npz"),
    ("folder", "{folder}", "a-folder.parquet"),
    ("empty", "{empty_npz}", "empty.npz"),
    ("garbage", "{garbage_npz}", "garbage.npz"),
    ("truncated", "{trunc_npz}", "truncated.npz"),
    ("pickle-member", "{pickle_npz}", "pickle.npz"),
    ("pickle-header", "{pickle_header_npz}", "pickle-header.npz"),
    ("no-header", "{npz_no_header}", "no-header.npz"),
    ("header-not-json", "{npz_header_notjson}", "header-not-json.npz"),
    ("header-list", "{npz_header_list}", "header-list.npz"),
    ("header-other-format", "{npz_header_format}", "header-format.npz"),
    ("header-version-abc", "{npz_header_version}", "header-version.npz"),
    ("header-unknown-kind", "{npz_header_kind}", "header-kind.npz"),
    ("header-without-arrays", "{npz_no_arrays}", "header-no-arrays.npz"),
    ("header-bad-space", "{npz_header_space}", "header-space.npz"),
    ("table-named-npz", "{table_as_npz}", "table_as_npz.npz"),
    ("onnx-named-npz", "{onnx_as_npz}", "onnx_as_npz.npz"),
    ("table", "{table}", "table.parquet"),
    ("fifo", "{fifo_npz}", "fifo.npz"),
    ("dev-null", "/dev/null", "/dev/null"),
]
PREDICTORS_SHORT = [t for t in PREDICTORS if t[0] in ("missing", "garbage", "truncated", "pickle-member",
                                                       "header-unknown-kind", "table", "fifo")]
PREDICTORS_MIN = [t for t in PREDICTORS if t[0] in ("missing", "garbage", "pickle-member", "fifo")]

MODELS: list[tuple[str, str, str]] = [
    ("missing", "{missing_onnx}", "does-not-exist.onnx"),
    ("folder", "{folder_onnx}", "a-folder.onnx"),
    ("empty", "{empty_onnx}", "empty.onnx"),
    ("garbage", "{garbage_onnx}", "garbage.onnx"),
    ("truncated", "{trunc_onnx}", "truncated.onnx"),
    ("table-named-onnx", "{table_as_onnx}", "table_as_onnx.onnx"),
    ("tflite-named-onnx", "{tflite_as_onnx}", "tflite_as_onnx.onnx"),
    ("fifo", "{fifo_onnx}", "fifo.onnx"),
    ("non-utf8-garbage", "{nonutf8_onnx}", "nonutf8-"),
]

DEVICE_FILES: list[tuple[str, str, tuple[str, ...]]] = [
    ("missing", "{missing_yaml}", ("does-not-exist.yaml",)),
    ("folder", "{folder}", ("a-folder.parquet",)),
    ("empty", "{dev_empty}", ("dev_empty.yaml",)),
    ("garbage", "{garbage_yaml}", ("garbage.yaml",)),
    ("non-utf8-bytes", "{dev_bytes}", ("dev_bytes.yaml",)),
    ("truncated", "{dev_truncated}", ("dev_truncated.yaml",)),
    ("malformed", "{dev_bad_yaml}", ("dev_bad_yaml.yaml",)),
    ("python-tag", "{dev_tag}", ("dev_tag.yaml",)),
    ("python-tag-in-field", "{dev_tag_field}", ("dev_tag_field.yaml",)),
    ("anchor-bomb", "{dev_anchor_bomb}", ("dev_anchor_bomb.yaml",)),
    ("list", "{dev_list}", ("dev_list.yaml",)),
    ("scalar", "{dev_scalar}", ("dev_scalar.yaml",)),
    ("two-documents", "{dev_multi}", ("dev_multi.yaml",)),
    ("threads-negative", "{dev_threads_neg}", ("dev_threads_neg.yaml", "threads")),
    ("threads-text", "{dev_threads_str}", ("dev_threads_str.yaml", "threads")),
    ("threads-1e20", "{dev_threads_huge}", ("dev_threads_huge.yaml", "threads")),
    ("threads-nan", "{dev_threads_nan}", ("dev_threads_nan.yaml", "threads")),
    ("threads-float", "{dev_threads_float}", ("dev_threads_float.yaml", "threads")),
    ("unknown-runtime", "{dev_runtime}", ("dev_runtime.yaml", "nosuchruntime")),
    ("unknown-provider", "{dev_provider}", ("dev_provider.yaml", "nosuchprovider")),
    ("unknown-precision", "{dev_precision}", ("dev_precision.yaml", "fp3")),
    ("unknown-location", "{dev_location}", ("dev_location.yaml", "bogus")),
    ("ssh-without-host", "{dev_ssh_empty}", ("dev_ssh_empty.yaml", "ssh")),
    ("ssh-port-99999", "{dev_ssh_port}", ("dev_ssh_port.yaml", "99999")),
    ("options-list", "{dev_options_list}", ("dev_options_list.yaml", "options")),
    ("unknown-field", "{dev_unknown_field}", ("dev_unknown_field.yaml", "colour")),
    ("name-list", "{dev_name_list}", ("dev_name_list.yaml", "name")),
    ("onnx-named-yaml", "{npz_as_yaml}", ("npz_as_yaml.yaml",)),
    ("table-named-yaml", "{table_as_yaml}", ("table_as_yaml.yaml",)),
    ("fifo", "{fifo_yaml}", ("fifo.yaml",)),
    ("dev-null", "/dev/null", ("/dev/null",)),
]
DEVICE_FILES_SHORT = [t for t in DEVICE_FILES if t[0] in ("missing", "garbage", "python-tag", "threads-negative",
                                                           "unknown-runtime", "fifo")]
DEVICE_FILES_MIN = [t for t in DEVICE_FILES if t[0] in ("python-tag", "threads-negative", "fifo")]
#: device names that are no device
DEVICE_NAMES = [("unknown-name", "nosuch-device", ("nosuch-device",)),
                ("uppercase-name", "CPU-ORT", ("CPU-ORT",)),
                ("empty-name", "", ("device",))]

#: (suffix, values) of numbers no count can be: argparse turns all of them away (exit 2)
COUNT_VALUES = ("0", "-1", "abc", "1e20", "nan", "inf")


def _cases(area: str, base: Sequence[str], variants: Iterable[tuple[str, Sequence[str], int | tuple[int, ...],
                                                                    Sequence[str]]]) -> list[Case]:
    return [Case(f"{area}/{suffix}", (*base, *extra), code, tuple(names)) for suffix, extra, code, names in variants]


def _numbers(option: str, values: Iterable[str], code: int = USAGE, *, name: str | None = None
             ) -> list[tuple[str, list[str], int, list[str]]]:
    """``option value`` for each value, expected to fail naming the option."""
    return [(f"{option.lstrip('-')}={v}", [option, v], code, [name or option]) for v in values]


def _files(option: str | None, kinds: Iterable[tuple[str, str, str]], code: int = BAD
           ) -> list[tuple[str, list[str], int, list[str]]]:
    out = []
    for suffix, arg, name in kinds:
        extra = [arg] if option is None else [option, arg]
        out.append((f"{(option or 'arg').lstrip('-')}:{suffix}", extra, code, [name]))
    return out


def _devices(option: str | None, short: bool = False) -> list[tuple[str, list[str], int, list[str]]]:
    out = []
    kinds = [*DEVICE_FILES_MIN, DEVICE_NAMES[0]] if short else [*DEVICE_FILES_SHORT, *DEVICE_NAMES]
    for suffix, arg, names in kinds:
        extra = [arg] if option is None else [option, arg]
        out.append((f"{(option or 'arg').lstrip('-')}:{suffix}", extra, BAD, list(names)))
    return out


def _global() -> list[Case]:
    return [
        Case("global/no-command", (), USAGE, ("command",)),
        Case("global/unknown-command", ("frobnicate",), USAGE, ("frobnicate",)),
        Case("global/unknown-option", ("--frobnicate", "devices", "list"), USAGE, ("--frobnicate",)),
        Case("global/devices-dir-missing", ("--devices-dir", "{missing_dir}", "devices", "list"), BAD,
             ("no-such-folder",)),
        Case("global/devices-dir-file", ("--devices-dir", "{file_not_dir}", "devices", "list"), BAD,
             ("profiled-ops.txt",)),
        Case("global/devices-dir-fifo", ("--devices-dir", "{fifo_yaml}", "devices", "list"), BAD, ("fifo.yaml",)),
        Case("global/devices-dir-non-utf8", ("--devices-dir", "{nonutf8_missing}", "devices", "list"), BAD,
             ("nonutf8-",)),
    ]


def _devices_cases() -> list[Case]:
    cases = [Case(f"devices/show:{s}", ("devices", "show", a), BAD, n) for s, a, n in [*DEVICE_FILES, *DEVICE_NAMES]]
    cases += [
        Case("devices/show:format", ("devices", "show", "cpu-ort", "--format", "xml"), USAGE, ("--format",)),
        Case("devices/show:no-name", ("devices", "show"), USAGE, ("name",)),
        Case("devices/list:format", ("devices", "list", "--format", "xml"), USAGE, ("--format",)),
        Case("devices/detect:format", ("devices", "detect", "--format", "xml"), USAGE, ("--format",)),
        Case("devices/detect:extra-arg", ("devices", "detect", "cpu-ort"), USAGE, ("cpu-ort",)),
        Case("devices/unknown-action", ("devices", "frob"), USAGE, ("frob",)),
    ]
    for verb in ("list", "detect"):
        for name in ("devdir_garbage", "devdir_dupe", "devdir_tag", "devdir_threads"):
            want = {"devdir_garbage": "bad.yaml", "devdir_dupe": "board", "devdir_tag": "t.yaml",
                    "devdir_threads": "threads"}[name]
            cases.append(Case(f"devices/{verb}:{name}", ("devices", verb, "--devices-dir", f"{{{name}}}"), BAD,
                              (want,)))
    return cases


def _ops_space() -> list[Case]:
    cases = [
        Case("ops/no-space", ("ops", "list"), USAGE, ("--space",)),
        Case("ops/unknown-space", ("ops", "list", "--space", "nosuchspace"), USAGE, ("nosuchspace",)),
        Case("ops/format", ("ops", "list", "--space", "nb201", "--format", "xml"), USAGE, ("--format",)),
        Case("ops/none-edges-choice", ("ops", "list", "--space", "nb201", "--none-edges", "maybe"), USAGE,
             ("--none-edges",)),
        Case("ops/none-edges-ofa", ("ops", "list", "--space", "ofa-mbv3", "--none-edges", "zero"), BAD,
             ("--none-edges",)),
        Case("ops/resolution-ofa-100000", ("ops", "list", "--space", "ofa-mbv3", "--resolution", "100000"), USAGE,
             ("100000",)),
        Case("ops/resolution-nb201", ("ops", "list", "--space", "nb201", "--resolution", "64"), BAD,
             ("resolution",)),
        Case("ops/unknown-action", ("ops", "frob"), USAGE, ("frob",)),
    ]
    cases += _cases("ops", ("ops", "list", "--space", "ofa-mbv3"),
                    _numbers("--resolution", ("0", "-1", "abc", "nan", "1e20")))
    cases += [
        Case("space/list:format", ("space", "list", "--format", "xml"), USAGE, ("--format",)),
        Case("space/list:extra-arg", ("space", "list", "nb201"), USAGE, ("nb201",)),
        Case("space/sample:unknown-space", ("space", "sample", "nosuchspace"), USAGE, ("nosuchspace",)),
        Case("space/sample:no-space", ("space", "sample"), USAGE, ("space",)),
        Case("space/sample:n=1e11", ("space", "sample", "nb201", "-n", "100000000000"), USAGE, ("-n",)),
        Case("space/sample:resolution-nb201", ("space", "sample", "nb201", "--resolution", "224"), BAD,
             ("resolution",)),
        Case("space/sample:resolution-ofa-7", ("space", "sample", "ofa-mbv3", "--resolution", "7"), BAD, ("7",)),
    ]
    cases += _cases("space/sample", ("space", "sample", "nb201"), _numbers("-n", COUNT_VALUES))
    cases += _cases("space/sample", ("space", "sample", "nb201"), _numbers("--seed", ("-1", "abc", "1.5", "nan")))
    cases += _cases("space/sample", ("space", "sample", "ofa-mbv3"),
                    _numbers("--resolution", ("0", "-224", "abc")))
    return cases


PROFILE = ("profile", "--device", "cpu-ort", "--ops", "{ops_one}", "-o", "{out}", "--quick", "--no-progress")


def _profile() -> list[Case]:
    cases = _cases("profile", PROFILE, [
        *_numbers("--rounds", COUNT_VALUES),
        *_numbers("--round-time", ("-1", "abc", "nan", "inf", "1e20")),
        *_numbers("--remeasure", ("-1", "abc", "1e20")),
        *_numbers("--chunk-size", ("0", "-1", "abc")),
        *_numbers("--seed", ("-1", "abc", "1.5")),
        *_numbers("--top", ("abc", "nan")),
        *_numbers("--statistic", ("p99", "")),
        *_numbers("--format", ("xml",)),
    ])
    no_ops = ("profile", "--device", "cpu-ort", "-o", "{out}", "--quick", "--no-progress")
    cases += _cases("profile", no_ops, [
        *_files("--ops", [("missing", "{missing}", "does-not-exist.parquet"),
                          ("folder", "{folder}", "a-folder.parquet"), ("empty", "{empty_txt}", "empty.txt"),
                          ("empty-json", "{empty_json}", "empty.json"), ("garbage", "{garbage_txt}", "garbage.txt"),
                          ("garbage-yaml", "{garbage_yaml}", "garbage.yaml"),
                          ("non-utf8-bytes", "{ops_bytes}", "ops_bytes.txt"),
                          ("bad-key", "{ops_badkey}", "ops_badkey.txt"),
                          ("unknown-kind", "{ops_unknown_kind}", "nosuchkind"),
                          ("zero-shape", "{ops_zero_shape}", "ops_zero_shape.txt"),
                          ("negative-shape", "{ops_neg_shape}", "ops_neg_shape.txt"),
                          ("huge-shape", "{ops_huge_shape}", "ops_huge_shape.txt"),
                          ("bad-param", "{ops_bad_param}", "ops_bad_param.txt"),
                          ("only-comments", "{ops_comments}", "ops_comments.txt"),
                          ("json-dict", "{ops_json_dict}", "ops_json_dict.json"),
                          ("json-truncated", "{ops_json_trunc}", "ops_json_trunc.json"),
                          ("json-numbers", "{ops_json_nums}", "ops_json_nums.json"),
                          ("json-no-kind", "{ops_json_nokind}", "ops_json_nokind.json"),
                          ("yaml-python-tag", "{ops_yaml_tag}", "ops_yaml_tag.yaml"),
                          ("parquet-table", "{table}", "table.parquet"), ("fifo", "{fifo_txt}", "fifo.txt"),
                          ("dev-null", "/dev/null", "/dev/null")]),
        *_files("--model", MODELS),
        ("kernels=bogus", ["--kernels", "bogus"], BAD, ["bogus"]),
        ("kernels=comma", ["--kernels", ","], BAD, ["--kernels"]),
        ("samples=0", ["--kernels", "conv", "--samples", "0"], USAGE, ["--samples"]),
        ("samples=-1", ["--kernels", "conv", "--samples", "-1"], USAGE, ["--samples"]),
        ("samples=abc", ["--kernels", "conv", "--samples", "abc"], USAGE, ["--samples"]),
        ("no-source", [], BAD, ["--space"]),
        ("two-sources", ["--space", "nb201", "--ops", "{ops_one}"], BAD, ["--ops"]),
        ("adaptive-without-kernels", ["--ops", "{ops_one}", "--adaptive"], BAD, ["--adaptive"]),
        ("unknown-space", ["--space", "nosuchspace"], USAGE, ["nosuchspace"]),
        ("none-edges-proxyless", ["--space", "proxyless", "--none-edges", "zero"], BAD, ["--none-edges"]),
        ("resolution-ofa-100000", ["--space", "ofa-mbv3", "--resolution", "100000"], USAGE, ["100000"]),
    ])
    base = ("profile", "--ops", "{ops_one}", "-o", "{out}", "--quick", "--no-progress")
    cases += _cases("profile", base, _devices("--device", short=True))
    cases.append(Case("profile/no-output", ("profile", "--device", "cpu-ort", "--ops", "{ops_one}", "--quick"),
                      USAGE, ("-o",)))
    outless = ("profile", "--device", "cpu-ort", "--ops", "{ops_one}", "--quick", "--no-progress")
    cases += _cases("profile", outless, [
        ("o:file", ["-o", "{file_not_dir}"], BAD, ["profiled-ops.txt"]),
        ("o:under-file", ["-o", "{file_not_dir}/sub"], BAD, ["profiled-ops.txt"]),
        ("o:non-json-checkpoint", ["-o", "{ckpt_garbage}"], BAD, ["measurements.jsonl"]),
        ("o:checkpoint-without-header", ["-o", "{ckpt_noheader}"], BAD, ["measurements.jsonl"]),
        ("o:checkpoint-version-999", ["-o", "{ckpt_version}"], BAD, ["measurements.jsonl"]),
        ("o:checkpoint-of-lists", ["-o", "{ckpt_header_list}"], BAD, ["measurements.jsonl"]),
        ("o:checkpoint-non-utf8", ["-o", "{ckpt_bytes}"], BAD, ["measurements.jsonl"]),
    ])
    return cases


PROFILE_MODEL = ("profile-model", "{onnx}", "--quick")


def _profile_model() -> list[Case]:
    cases = _cases("profile-model", ("profile-model", "--quick"), _files(None, MODELS))
    cases += _cases("profile-model", ("profile-model", "--quick"), [
        ("arg:parquet-table", ["{table}"], BAD, ["table.parquet"]),
        ("arg:tflite-on-cpu-ort", ["{tflite}"], BAD, ["model.tflite"]),
        ("arg:dev-null", ["/dev/null"], BAD, ["/dev/null"]),
        ("no-model", [], USAGE, ["model"]),
    ])
    cases += _cases("profile-model", PROFILE_MODEL, [
        *_numbers("--runs", ("0", "-1", "abc", "1e20")),
        *_numbers("--warmup", ("-1", "abc")),
        *_numbers("--rounds", ("0", "nan")),
        ("device=cpu-litert", ["--device", "cpu-litert"], BAD, ["litert"]),
        ("device=cpu-torch", ["--device", "cpu-torch"], BAD, ["torch"]),
    ])
    cases += _cases("profile-model", PROFILE_MODEL, _devices("--device", short=True))
    return cases


VALIDATE = ("validate", "--device", "cpu-ort", "--space", "nb201", "--table", "{nbtable}", "-o", "{out}", "--quick",
            "--no-progress", "--no-canary", "--n", "3", "--calibrate", "2")


def _validate() -> list[Case]:
    cases = _cases("validate", VALIDATE, [
        *_numbers("--n", COUNT_VALUES),
        *_numbers("--calibrate", ("-1", "abc", "1e20")),
        *_numbers("--seed", ("-1", "abc")),
        *_numbers("--calibration", ("bogus",)),
        *_numbers("--round-time", ("-1", "inf")),
        ("space=nosuchspace", ["--space", "nosuchspace"], USAGE, ["nosuchspace"]),
        ("table-of-another-space", ["--space", "proxyless"], BAD, ["missing"]),
    ])
    without_table = tuple(a for a in VALIDATE if a not in ("--table", "{nbtable}"))
    cases += _cases("validate", without_table, _files("--table", TABLES_MIN))
    without_device = VALIDATE[:1] + VALIDATE[3:]
    cases += _cases("validate", without_device, _devices("--device", short=True))
    without_out = tuple(a for a in VALIDATE if a not in ("-o", "{out}"))
    cases += _cases("validate", without_out, [
        ("o:file", ["-o", "{file_not_dir}"], BAD, ["profiled-ops.txt"]),
        ("no-output", [], USAGE, ["-o"]),
    ])
    return cases


ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
QUERY = ("query", "--space", "nb201", "--table", "{nbtable}")
BAD_NB201 = [("garbage", "not an architecture"), ("empty", ""), ("truncated", "|nor_conv_3x3~0|+|nor_conv"),
             ("unknown-op", ARCH.replace("avg_pool_3x3", "max_pool_9x9")),
             ("bad-index", ARCH.replace("skip_connect~2", "skip_connect~7")),
             ("negative-index", ARCH.replace("skip_connect~2", "skip_connect~-1")),
             ("too-many-edges", ARCH + "+|none~0|"), ("non-utf8", "|nor_conv_3x3~0|\udcff|"),
             ("huge", "|" * 100000)]
BAD_OFA = [("json-truncated", '{"d": [2, 2'), ("json-null", "null"), ("json-list", "[1, 2]"),
           ("depth-short", '{"d": [2], "e": [3], "ks": [3], "r": 224}'),
           ("depth-9", '{"d": [9, 2, 2, 2, 2], "e": ' + str([3] * 20) + ', "ks": ' + str([3] * 20) + ', "r": 224}'),
           ("kernel-4", '{"d": [2, 2, 2, 2, 2], "e": ' + str([3] * 20) + ', "ks": ' + str([4] * 20) + ', "r": 224}'),
           ("resolution-0", '{"d": [2, 2, 2, 2, 2], "e": ' + str([3] * 20) + ', "ks": ' + str([3] * 20) + ', "r": 0}'),
           ("resolution-text", '{"d": [2, 2, 2, 2, 2], "e": ' + str([3] * 20) + ', "ks": ' + str([3] * 20)
            + ', "r": "big"}'),
           ("nan", '{"d": [NaN, 2, 2, 2, 2], "e": ' + str([3] * 20) + ', "ks": ' + str([3] * 20) + ', "r": 224}')]
BAD_PROXYLESS = [("json-truncated", '{"ks": [3'), ("json-string", '"hello"'), ("json-empty-object", "{}")]


def _query() -> list[Case]:
    cases = [Case(f"query/arch-nb201:{s}", (*QUERY, text), BAD, ("architecture 1",)) for s, text in BAD_NB201]
    cases += [Case(f"query/arch-ofa:{s}", ("query", "--space", "ofa-mbv3", "--table", "{table}", text), BAD,
                   ("architecture 1",)) for s, text in BAD_OFA]
    cases += [Case(f"query/arch-proxyless:{s}", ("query", "--space", "proxyless", "--table", "{table}", text), BAD,
                   ("architecture 1",)) for s, text in BAD_PROXYLESS]
    cases += _cases("query", QUERY, _files("--archs-file", [
        ("missing", "{missing}", "does-not-exist.parquet"), ("folder", "{folder}", "a-folder.parquet"),
        ("empty", "{empty_txt}", "empty.txt"), ("only-comments", "{archs_comments}", "archs_comments.txt"),
        ("garbage-bytes", "{garbage_txt}", "garbage.txt"), ("non-utf8-bytes", "{archs_bytes}", "archs_bytes.txt"),
        ("bad-line", "{archs_bad}", "archs_bad.txt"), ("truncated-line", "{archs_trunc}", "archs_trunc.txt"),
        ("parquet-table", "{table}", "table.parquet"), ("fifo", "{fifo_txt}", "fifo.txt"),
        ("dev-null", "/dev/null", "/dev/null"), ("non-utf8-missing", "{nonutf8_missing}", "nonutf8-")]))
    cases += _cases("query", ("query", "--space", "nb201", ARCH), _files("--table", TABLES))
    cases += _cases("query", ("query", "--space", "nb201", ARCH), _files("--predictor", PREDICTORS))
    cases += _cases("query", ("query", "--space", "nb201", ARCH), [
        ("predictor:kernel-regressor", ["--predictor", "{kernels_npz}"], BAD, ["kernels.npz"]),
        ("no-table", [], BAD, ["--table"]),
        ("unknown-space", ["--space", "nosuchspace"], USAGE, ["nosuchspace"]),
        ("resolution=abc", ["--table", "{nbtable}", "--resolution", "abc"], USAGE, ["--resolution"]),
        ("none-edges-choice", ["--table", "{nbtable}", "--none-edges", "maybe"], USAGE, ["--none-edges"]),
        ("format", ["--table", "{nbtable}", "--format", "xml"], USAGE, ["--format"]),
        ("explain-predictor-without-table", ["--predictor", "{predictor}", "--explain"], BAD, ["--table"]),
        ("table-misses-ops", ["--table", "{table}"], BAD, ["conv:"]),
    ])
    cases += [
        Case("query/no-space", ("query", "--table", "{nbtable}", ARCH), BAD, ("--space",)),
        Case("query/no-arch", QUERY, BAD, ("architecture",)),
    ]
    # ONNX models
    cases += _cases("query-onnx", ("query", "--table", "{table}"), _files(None, MODELS))
    cases += _cases("query-onnx", ("query", "{onnx}"), [
        *_files("--table", TABLES_MIN),
        *_files("--predictor", PREDICTORS_MIN),
        *[(f"regressor:{s}", ["--table", "{table}", "--regressor", a], BAD, [n]) for s, a, n in PREDICTORS_MIN],
        ("regressor:lookup-predictor", ["--table", "{table}", "--regressor", "{predictor}"], BAD,
         ["nb201-predictor.npz"]),
        ("predictor:space-predictor", ["--predictor", "{predictor}"], BAD, ["nb201-predictor.npz"]),
        ("no-table", [], BAD, ["--table"]),
        ("save-predictor-not-npz", ["--table", "{table}", "--save-predictor", "{out}/graph.txt"], BAD, ["graph.txt"]),
        ("save-predictor-under-file", ["--table", "{table}", "--save-predictor", "{file_not_dir}/g.npz"], BAD,
         ["profiled-ops.txt"]),
        *[(f"device:{s}", ["--table", "{table}", "--device", a], BAD, list(n)) for s, a, n in
          [*DEVICE_FILES_MIN, DEVICE_NAMES[0]]],
        ("device=cpu-torch", ["--table", "{table}", "--device", "cpu-torch"], BAD, ["cpu-torch"]),
    ])
    return cases


SEARCH = ("search", "--device", "cpu-ort", "--space", "nb201", "--table", "{nbtable}", "-o", "{out}", "--quick",
          "--no-progress", "--no-canary", "--no-measure", "--calibrate", "0", "--export", "none", "--evaluations", "20",
          "--accuracy", "{accpy}:accuracy")


def _search() -> list[Case]:
    cases = _cases("search", SEARCH, [
        *_numbers("--budget", ("0", "-1", "abc", "nan", "inf")),
        *_numbers("--budgets", ("0", "-1", "abc", "nan")),
        *_numbers("--evaluations", COUNT_VALUES),
        *_numbers("--population", ("0", "-1", "abc")),
        *_numbers("--calibrate", ("-1", "abc")),
        *_numbers("--max-measure", ("-1", "abc")),
        *_numbers("--seed", ("-1", "abc")),
        *_numbers("--strategy", ("bogus",)),
        *_numbers("--reward", ("bogus",)),
        *_numbers("--export", ("bogus",)),
        *_numbers("--calibration", ("bogus",)),
        *_numbers("--loss", ("bogus",)),
        *_numbers("--sampling", ("bogus",)),
        ("budget-below-reach", ["--budget", "0.000001"], BAD, ["1e-06"]),
        ("reward-without-evolution", ["--reward", "hard"], BAD, ["--reward"]),
        ("dataset-without-gradient", ["--dataset", "{missing_dir}"], BAD, ["--dataset"]),
        ("max-batches-without-gradient", ["--max-batches", "3"], BAD, ["--max-batches"]),
        ("gradient-on-nb201", ["--strategy", "gradient"], BAD, ["gradient"]),
        ("space=nosuchspace", ["--space", "nosuchspace"], USAGE, ["nosuchspace"]),
        ("table-of-another-space", ["--space", "proxyless", "--accuracy", "proxy:naswot"], BAD, ["missing"]),
    ])
    no_acc = SEARCH[:-2]
    cases += _cases("search", no_acc, [
        ("accuracy:unknown-source", ["--accuracy", "nosuchsource:x"], BAD, ["nosuchsource"]),
        ("accuracy:no-colon", ["--accuracy", "cifar10"], BAD, ["cifar10"]),
        ("accuracy:empty", ["--accuracy", ""], BAD, ["accuracy source"]),
        ("accuracy:nb201-missing", ["--accuracy", "nb201-csv:{missing_csv}"], BAD, ["does-not-exist.csv"]),
        ("accuracy:nb201-folder", ["--accuracy", "nb201-csv:{folder}"], BAD, ["a-folder.parquet"]),
        ("accuracy:nb201-empty", ["--accuracy", "nb201-csv:{empty_csv}"], BAD, ["empty.csv"]),
        ("accuracy:nb201-garbage", ["--accuracy", "nb201-csv:{garbage_csv}"], BAD, ["garbage.csv"]),
        ("accuracy:nb201-no-column", ["--accuracy", "nb201-csv:{acc_nocol}"], BAD, ["acc_nocol.csv"]),
        ("accuracy:nb201-bad-arch", ["--accuracy", "nb201-csv:{acc_badarch}"], BAD, ["acc_badarch.csv"]),
        ("accuracy:nb201-header-only", ["--accuracy", "nb201-csv:{acc_header}"], BAD, ["acc_header.csv"]),
        ("accuracy:nb201-fifo", ["--accuracy", "nb201-csv:{fifo_csv}"], BAD, ["fifo.csv"]),
        ("accuracy:nb201-unknown-dataset", ["--accuracy", "nb201-csv:{acc}:mnist"], BAD, ["mnist"]),
        ("accuracy:ofa-on-nb201", ["--accuracy", "ofa-predictor:{garbage_pth}"], BAD, ["nb201"]),
        ("accuracy:unknown-proxy", ["--accuracy", "proxy:nosuchproxy"], BAD, ["nosuchproxy"]),
        ("accuracy:unknown-module", ["--accuracy", "nosuchmodule_xyz:fn"], BAD, ["nosuchmodule_xyz"]),
        ("accuracy:module-without-function", ["--accuracy", "json:nosuchfunction"], BAD, ["nosuchfunction"]),
        ("accuracy:file-missing", ["--accuracy", "{missing_dir}/acc.py:accuracy"], BAD, ["acc.py"]),
        ("accuracy:file-not-python", ["--accuracy", "{garbage_txt}:accuracy"], BAD, ["garbage.txt"]),
        ("accuracy:callable-nan", ["--accuracy", "{accpy}:nan_accuracy"], BAD, ["NaN"]),
    ])
    ofa = ("search", "--device", "cpu-ort", "--space", "ofa-mbv3", "--table", "{table}", "-o", "{out}", "--quick",
           "--no-progress", "--no-measure", "--evaluations", "20", "--resolution", "224")
    cases += _cases("search", ofa, [
        ("accuracy:ofa-missing", ["--accuracy", "ofa-predictor:{missing_dir}/acc.pth"], BAD, ["acc.pth"]),
        ("accuracy:ofa-empty", ["--accuracy", "ofa-predictor:{empty_pth}"], BAD, ["empty.pth"]),
        ("accuracy:ofa-garbage", ["--accuracy", "ofa-predictor:{garbage_pth}"], BAD, ["garbage.pth"]),
        ("accuracy:ofa-crafted-pickle", ["--accuracy", "ofa-predictor:{evil_pth}"], BAD, ["evil.pth"]),
        ("accuracy:ofa-table", ["--accuracy", "ofa-predictor:{table_as_pth}"], BAD, ["table_as_pth.pth"]),
    ])
    without_table = tuple(a for a in SEARCH if a not in ("--table", "{nbtable}"))
    cases += _cases("search", without_table, _files("--table", TABLES_MIN))
    cases += _cases("search", without_table, [
        *_files("--predictor", PREDICTORS_MIN),
        ("predictor:kernel-regressor", ["--predictor", "{kernels_npz}"], BAD, ["kernels.npz"]),
    ])
    without_device = SEARCH[:1] + SEARCH[3:]
    cases += _cases("search", without_device, _devices("--device", short=True))
    gradient = ("search", "--device", "cpu-ort", "--space", "proxyless", "--strategy", "gradient", "-o", "{out}",
                "--table", "{pxtable}",
                "--quick", "--no-progress", "--no-measure", "--budgets", "8", "--max-batches", "1", "--epochs", "1")
    cases += _cases("search/gradient", gradient, [
        *_numbers("--epochs", ("0", "-1", "abc")),
        *_numbers("--max-batches", ("0", "-1")),
        *_numbers("--latency-weight", ("nan", "inf", "-1", "abc")),
        ("dataset:missing", ["--dataset", "{missing_dir}"], BAD, ["no-such-folder"]),
        ("dataset:garbage-npz", ["--dataset", "{garbage_npz}"], BAD, ["garbage.npz"]),
        ("dataset:pickle-npz", ["--dataset", "{pickle_npz}"], BAD, ["pickle.npz"]),
        ("dataset:fifo", ["--dataset", "{fifo_npz}"], BAD, ["fifo.npz"]),
    ])
    without_out = tuple(a for a in SEARCH if a not in ("-o", "{out}"))
    cases += _cases("search", without_out, [
        ("o:file", ["-o", "{file_not_dir}"], BAD, ["profiled-ops.txt"]),
        ("no-output", [], USAGE, ["-o"]),
    ])
    return cases


MEASURE = ("measure", "--quick", "--no-progress", "--no-canary")


def _measure() -> list[Case]:
    cases = _cases("measure", MEASURE, _files(None, MODELS))
    cases += _cases("measure", MEASURE, [
        ("arg:parquet-table", ["{table}"], BAD, ["table.parquet"]),
        ("arg:tflite-on-cpu-ort", ["{tflite}"], BAD, ["model.tflite"]),
        ("arg:dev-null", ["/dev/null"], BAD, ["/dev/null"]),
        ("arg:one-good-one-missing", ["{onnx}", "{missing_onnx}"], BAD, ["does-not-exist.onnx"]),
        ("litert:garbage", ["--device", "cpu-litert", "{garbage_tflite}"], BAD, ["garbage.tflite"]),
        ("litert:empty", ["--device", "cpu-litert", "{empty_tflite}"], BAD, ["empty.tflite"]),
        ("litert:truncated", ["--device", "cpu-litert", "{trunc_tflite}"], BAD, ["truncated.tflite"]),
        ("litert:onnx", ["--device", "cpu-litert", "{onnx}"], BAD, ["model.onnx"]),
        ("device=cpu-torch", ["--device", "cpu-torch", "{onnx}"], BAD, ["cpu-torch"]),
        ("no-model", [], USAGE, ["models"]),
    ])
    cases += _cases("measure", (*MEASURE, "{onnx}"), [
        *_numbers("--rounds", ("0", "-1", "abc")),
        *_numbers("--round-time", ("-1", "nan", "inf", "1e20")),
        *_numbers("--remeasure", ("-1",)),
        *_numbers("--statistic", ("p99",)),
        *_devices("--device", short=True),
    ])
    return cases


KFIT = ("kernels", "fit", "{ktable}", "-o", "{out}/k.npz")


def _kernels() -> list[Case]:
    cases = _cases("kernels", ("kernels", "fit", "-o", "{out}/k.npz"), _files(None, TABLES_MIN))
    cases += _cases("kernels", KFIT, [
        *_numbers("--test-size", ("0", "-1", "1", "1.5", "nan", "inf", "abc")),
        *_numbers("--seed", ("-1", "abc")),
        *_numbers("--estimator", ("bogus",)),
        *_numbers("--format", ("xml",)),
    ])
    cases += _cases("kernels", ("kernels", "fit", "{ktable}"), [
        ("o:not-npz", ["-o", "{out}/k.txt"], BAD, ["k.txt"]),
        ("o:folder", ["-o", "{folder_onnx}"], BAD, ["a-folder.onnx"]),
        ("o:under-file", ["-o", "{file_not_dir}/k.npz"], BAD, ["profiled-ops.txt"]),
        ("no-output", [], USAGE, ["-o"]),
    ])
    cases += [Case("kernels/space-table", ("kernels", "fit", "{table}", "-o", "{out}/k.npz"), BAD, ("table.parquet",)),
              Case("kernels/no-table", ("kernels", "fit", "-o", "{out}/k.npz"), USAGE, ("table",)),
              Case("kernels/unknown-action", ("kernels", "frob"), USAGE, ("frob",))]
    return cases


ADAPT = ("adapt", "--space", "nb201", "--reference", "{nbtable}", "--measurements", "{meas}", "-o", "{out}/p.npz")


def _adapt() -> list[Case]:
    no_meas = ("adapt", "--space", "nb201", "--reference", "{nbtable}", "-o", "{out}/p.npz")
    cases = _cases("adapt", no_meas, _files("--measurements", [
        ("missing", "{missing_csv}", "does-not-exist.csv"), ("folder", "{folder}", "a-folder.parquet"),
        ("empty", "{empty_csv}", "empty.csv"), ("garbage", "{garbage_csv}", "garbage.csv"),
        ("non-utf8-bytes", "{meas_bytes}", "meas_bytes.csv"), ("no-latency-column", "{meas_nocol}", "latency_ms"),
        ("latency-text", "{meas_str}", "meas_str.csv"), ("latency-negative", "{meas_neg}", "meas_neg.csv"),
        ("latency-nan", "{meas_nan}", "meas_nan.csv"), ("latency-inf", "{meas_inf}", "meas_inf.csv"),
        ("latency-zero", "{meas_zero}", "meas_zero.csv"), ("bad-arch", "{meas_badarch}", "meas_badarch.csv"),
        ("header-only", "{meas_header}", "meas_header.csv"), ("truncated", "{meas_trunc}", "meas_trunc.csv"),
        ("parquet-table", "{table}", "table.parquet"), ("onnx-named-csv", "{onnx_as_csv}", "onnx_as_csv.csv"),
        ("fifo", "{fifo_csv}", "fifo.csv"), ("dev-null", "/dev/null", "/dev/null"),
        ("non-utf8-missing", "{nonutf8_missing}", "nonutf8-")]))
    no_ref = ("adapt", "--space", "nb201", "--measurements", "{meas}", "-o", "{out}/p.npz")
    cases += _cases("adapt", no_ref, _files("--reference", TABLES_MIN))
    cases += _cases("adapt", no_ref, [*_files("--reference-devices", [
        ("missing", "{missing_csv}", "does-not-exist.csv"), ("folder", "{folder}", "a-folder.parquet"),
        ("empty", "{empty_csv}", "empty.csv"), ("garbage", "{garbage_csv}", "garbage.csv"),
        ("fifo", "{fifo_csv}", "fifo.csv"), ("measurements-not-devices", "{meas}", "latency_ms")]),
        ("both-references", ["--reference", "{nbtable}", "--reference-devices", "{meas}"], USAGE,
         ["--reference-devices"]),
        ("suggest-without-devices", ["--reference", "{nbtable}", "--suggest", "3"], USAGE, ["--suggest"]),
        *_numbers("--suggest", ("0", "-1", "nan", "1e9")),
    ])
    cases += _cases("adapt", ADAPT, [
        *_numbers("--grouping", ("bogus",)),
        ("space=nosuchspace", ["--space", "nosuchspace"], USAGE, ["nosuchspace"]),
        ("measurements-of-another-space", ["--space", "proxyless", "--reference", "{table}"], BAD,
         ["measurements.csv"]),
        ("reference-misses-ops", ["--reference", "{table}"], BAD, ["conv:"]),
    ])
    no_out = ADAPT[:-2]
    cases += _cases("adapt", no_out, [
        ("o:not-npz", ["-o", "{out}/p.txt"], BAD, ["p.txt"]),
        ("o:folder", ["-o", "{folder_onnx}"], BAD, ["a-folder.onnx"]),
        ("o:under-file", ["-o", "{file_not_dir}/p.npz"], BAD, ["profiled-ops.txt"]),
        ("no-output", [], USAGE, ["-o"]),
    ])
    return cases


LUTS = [("missing", "{missing_yaml}", "does-not-exist.yaml"), ("folder", "{folder}", "a-folder.parquet"),
        ("empty", "{empty_yaml}", "empty.yaml"), ("garbage", "{garbage_yaml}", "garbage.yaml"),
        ("non-utf8-bytes", "{lut_bytes}", "lut_bytes.yaml"), ("truncated", "{lut_trunc}", "lut_trunc.yaml"),
        ("python-tag", "{lut_tag}", "lut_tag.yaml"), ("list", "{lut_list}", "lut_list.yaml"),
        ("scalar", "{lut_scalar}", "lut_scalar.yaml"), ("unknown-op", "{lut_badkey}", "lut_badkey.yaml"),
        ("mean-text", "{lut_str}", "lut_str.yaml"), ("mean-negative", "{lut_neg}", "lut_neg.yaml"),
        ("mean-nan", "{lut_nan}", "lut_nan.yaml"), ("mean-inf", "{lut_inf}", "lut_inf.yaml"),
        ("no-mean", "{lut_nomean}", "lut_nomean.yaml"), ("entry-not-mapping", "{lut_notdict}", "lut_notdict.yaml"),
        ("parquet-table", "{table_as_yaml}", "table_as_yaml.yaml"), ("fifo", "{fifo_yaml}", "fifo.yaml"),
        ("dev-null", "/dev/null", "/dev/null")]


def _table() -> list[Case]:
    cases = _cases("table", ("table", "show"), _files(None, TABLES))
    cases += _cases("table", ("table", "show", "{table}"), [*_numbers("--top", ("abc", "1.5")),
                                                             *_numbers("--format", ("xml",))])
    cases += _cases("table/diff-a", ("table", "diff"), [(s, [a, "{table}"], c, n) for s, [a], c, n in
                                                        _files(None, TABLES_MIN)])
    cases += _cases("table/diff-b", ("table", "diff", "{table}"), _files(None, TABLES_MIN))
    cases += _cases("table/diff", ("table", "diff", "{table}", "{table}"), [
        *_numbers("--fail-if", ("latency_ms", "nosuchcolumn:+5%", "latency_ms:+abc%", "latency_ms:+nan%",
                                "latency_ms:5parsecs", ":"), code=(BAD, USAGE)),
        *_numbers("--top", ("abc",)),
    ])
    cases += _cases("table/merge-first", ("table", "merge", "-o", "{out}/m.parquet"),
                    [(s, [a, "{table}"], c, n) for s, [a], c, n in _files(None, TABLES_MIN)])
    cases += _cases("table/merge-second", ("table", "merge", "-o", "{out}/m.parquet", "{table}"),
                    _files(None, TABLES_MIN))
    cases += _cases("table/merge", ("table", "merge", "{table}"), [
        ("other-device", ["{othertable}", "-o", "{out}/m.parquet"], BAD, ["another-board"]),
        ("prefer", ["{table}", "-o", "{out}/m.parquet", "--prefer", "c"], USAGE, ["--prefer"]),
        ("o:not-table", ["{table}", "-o", "{out}/m.txt"], BAD, ["m.txt"]),
        ("o:folder", ["{table}", "-o", "{folder}"], BAD, ["a-folder.parquet"]),
        ("o:under-file", ["{table}", "-o", "{file_not_dir}/m.parquet"], BAD, ["profiled-ops.txt"]),
        ("no-output", ["{table}"], USAGE, ["-o"]),
    ])
    cases += _cases("table/coverage", ("table", "coverage", "--space", "nb201"), _files(None, TABLES_SHORT))
    cases += _cases("table/coverage", ("table", "coverage", "{table}"), [
        ("unknown-space", ["--space", "nosuchspace"], USAGE, ["nosuchspace"]),
        ("no-space", [], USAGE, ["--space"]),
        *[(f"resolution={v}", ["--space", "ofa-mbv3", "--resolution", v], USAGE, ["--resolution"])
          for v in ("0", "-1", "abc")],
        ("resolution-ofa-100000", ["--space", "ofa-mbv3", "--resolution", "100000"], USAGE, ["100000"]),
        ("none-edges-ofa", ["--space", "ofa-mbv3", "--none-edges", "zero"], BAD, ["--none-edges"]),
        ("top=abc", ["--space", "nb201", "--top", "abc"], USAGE, ["--top"]),
    ])
    cases += _cases("table/import-ofa", ("table", "import-ofa", "-o", "{out}/t.parquet"), _files(None, LUTS))
    cases += _cases("table/import-ofa", ("table", "import-ofa", "{lut_ok}"), [
        ("space-nb201", ["-o", "{out}/t.parquet", "--space", "nb201"], USAGE, ["--space"]),
        ("o:not-table", ["-o", "{out}/t.txt"], BAD, ["t.txt"]),
        ("no-output", [], USAGE, ["-o"]),
    ])
    cases += _cases("table/export", ("table", "export", "-o", "{out}/t.csv"), _files(None, TABLES_MIN))
    cases += _cases("table/export", ("table", "export", "{table}"), [
        ("o:not-table", ["-o", "{out}/t.txt"], BAD, ["t.txt"]),
        ("o:no-suffix", ["-o", "{out}/t"], BAD, ["t"]),
        ("o:folder", ["-o", "{folder}"], BAD, ["a-folder.parquet"]),
        ("o:under-file", ["-o", "{file_not_dir}/t.csv"], BAD, ["profiled-ops.txt"]),
        ("o:non-utf8-not-table", ["-o", "{nonutf8_missing}.txt"], BAD, ["nonutf8-"]),
        ("no-output", [], USAGE, ["-o"]),
    ])
    # a table at a non-UTF-8 path is a table like any other
    cases += [Case("table/show:non-utf8-path-of-a-good-table", ("table", "show", "{nonutf8_table}"), 0),
              Case("table/export:non-utf8-path-of-a-good-table", ("table", "export", "{nonutf8_table}", "-o",
                                                                  "{out}/t.csv"), 0)]
    cases += [Case("table/unknown-action", ("table", "frob"), USAGE, ("frob",)),
              Case("table/no-action", ("table",), USAGE, ("action",))]
    return cases


def _agent() -> list[Case]:
    cases = [
        Case("agent/no-stdio", ("agent",), USAGE, ("--stdio",)),
        Case("agent/unknown-option", ("agent", "--stdio", "--frob"), USAGE, ("--frob",)),
        Case("agent/cache-dir-file", ("agent", "--stdio", "--cache-dir", "{file_not_dir}"), BAD,
             ("profiled-ops.txt",)),
        Case("agent/cache-dir-under-file", ("agent", "--stdio", "--cache-dir", "{file_not_dir}/cache"), BAD,
             ("profiled-ops.txt",)),
    ]
    cases += _cases("agent", ("agent", "--stdio"), _numbers("--max-message-mb", ("0", "-1", "abc", "nan", "inf",
                                                                                 "1e20")))
    # bad requests are answered, one error reply each, and the agent ends at end of input (exit 0)
    for suffix, data, name in (("garbage-bytes", b"\xff\xfe\x00garbage\n", "json"),
                               ("truncated-json", b'{"id": 1, "op": "hel\n', "json"),
                               ("json-list", b"[1, 2, 3]\n", "error"),
                               ("unknown-op", b'{"id": 1, "op": "frobnicate"}\n', "frobnicate"),
                               ("over-size-limit", b'{"id": 1, "pad": "' + b"x" * 300_000 + b'"}\n', "rejected")):
        cases.append(Case(f"agent/stdin:{suffix}", ("agent", "--stdio", "--max-message-mb", "0.1",
                                                    "--cache-dir", "{out}"), 0, (name,), stdin=data, stream="stdout"))
    return cases


#: inputs that are fine: the harness must see them succeed (else every check could pass vacuously)
CONTROLS = [
    Case("control/table-show", ("table", "show", "{table}"), 0),
    Case("control/devices-show-file", ("devices", "show", "{dev_ok}"), 0),
    Case("control/query", (*QUERY, ARCH), 0),
    Case("control/import-ofa", ("table", "import-ofa", "{lut_ok}", "-o", "{out}/t.parquet"), 0),
    Case("control/adapt", ADAPT, 0),
    Case("control/query-predictor", ("query", "--space", "nb201", "--predictor", "{predictor}", ARCH), 0),
]


def all_cases() -> list[Case]:
    cases = [*_global(), *_devices_cases(), *_ops_space(), *_profile(), *_profile_model(), *_validate(), *_query(),
             *_search(), *_measure(), *_kernels(), *_adapt(), *_table(), *_agent()]
    ids = [c.id for c in cases]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise AssertionError(f"case ids used twice: {dupes}")
    return cases


#: the one list of hostile cases
CASES: list[Case] = all_cases()
