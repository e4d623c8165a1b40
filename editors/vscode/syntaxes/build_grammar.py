"""Source of syntaxes/lmp.tmLanguage.json (regexes are easier to read as Python raw strings).

Run `python3 syntaxes/build_grammar.py` after editing; `--check` fails if the JSON is stale."""

import json
import pathlib
import sys

ID = r"[A-Za-z_][A-Za-z0-9_]*"
g = {
    "$schema": "https://raw.githubusercontent.com/martinring/tmlanguage/master/tmlanguage.json",
    "name": "lmp",
    "scopeName": "source.lmp",
    "fileTypes": ["lmp"],
    "patterns": [{"include": "#statements"}],
    "repository": {
        "statements": {
            "patterns": [
                {"include": "#comment"},
                {"include": "#type-declaration"},
                {"include": "#field-declaration"},
                {"include": "#signature-header"},
                {"include": "#callable-header"},
                {"include": "#example-block"},
                {"include": "#test-block"},
                {"include": "#named-declaration"},
                {"include": "#let-declaration"},
                {"include": "#expression"},
            ]
        },
        "comment": {
            "match": r"(#).*$",
            "name": "comment.line.number-sign.lmp",
            "captures": {"1": {"name": "punctuation.definition.comment.lmp"}},
        },
        "type-declaration": {
            "name": "meta.type.declaration.lmp",
            "begin": rf"^\s*(type)\s+({ID})\s*(=)",
            "beginCaptures": {
                "1": {"name": "storage.type.type.lmp"},
                "2": {"name": "entity.name.type.lmp"},
                "3": {"name": "keyword.operator.assignment.lmp"},
            },
            "end": r"^(?!\s*(?:\||$))",
            "patterns": [
                {"include": "#comment"},
                {"include": "#record-body"},
                {"include": "#enum-member"},
                {"include": "#type-expression"},
            ],
        },
        "enum-member": {
            "name": "string.quoted.double.lmp",
            "begin": r"\"",
            "end": r"\"|$",
            "beginCaptures": {"0": {"name": "punctuation.definition.string.begin.lmp"}},
            "endCaptures": {"0": {"name": "punctuation.definition.string.end.lmp"}},
            "contentName": "constant.other.enum-member.lmp",
            "patterns": [{"include": "#string-escape"}],
        },
        "record-body": {
            "name": "meta.record.lmp",
            "begin": r"\{",
            "end": r"\}",
            "beginCaptures": {"0": {"name": "punctuation.section.braces.begin.lmp"}},
            "endCaptures": {"0": {"name": "punctuation.section.braces.end.lmp"}},
            "patterns": [
                {"include": "#comment"},
                {
                    "match": rf"({ID})\s*(:)",
                    "captures": {
                        "1": {"name": "variable.other.field.lmp"},
                        "2": {"name": "punctuation.separator.colon.lmp"},
                    },
                },
                {"include": "#string"},
                {"include": "#type-expression"},
                {"match": ",", "name": "punctuation.separator.comma.lmp"},
            ],
        },
        "type-expression": {
            "patterns": [
                {"include": "#builtin-type"},
                {"match": r"\b[A-Z][A-Za-z0-9_]*\b", "name": "entity.name.type.lmp"},
                {"match": r"\?", "name": "keyword.operator.optional.lmp"},
                {"match": r"\|", "name": "keyword.operator.union.lmp"},
                {"match": r"\[", "name": "punctuation.section.brackets.begin.lmp"},
                {"match": r"\]", "name": "punctuation.section.brackets.end.lmp"},
                {"match": ",", "name": "punctuation.separator.comma.lmp"},
            ]
        },
        "builtin-type": {"match": r"\b(str|int|float|bool|list|dict)\b", "name": "support.type.builtin.lmp"},
        "field-declaration": {
            "name": "meta.field.declaration.lmp",
            "begin": rf"^\s*(in|out)\s+({ID})\s*(:)",
            "beginCaptures": {
                "1": {"name": "storage.modifier.field.$1.lmp"},
                "2": {"name": "variable.other.field.lmp"},
                "3": {"name": "punctuation.separator.colon.lmp"},
            },
            "end": r"(?=#)|$",
            "patterns": [{"include": "#string"}, {"include": "#type-expression"}],
        },
        "signature-header": {
            "match": rf"^\s*(signature)\s+({ID})",
            "captures": {
                "1": {"name": "storage.type.signature.lmp"},
                "2": {"name": "entity.name.type.signature.lmp"},
            },
        },
        "callable-header": {
            "patterns": [
                {
                    "name": "meta.declaration.module.lmp",
                    "begin": rf"^\s*(module)\s+({ID})",
                    "beginCaptures": {
                        "1": {"name": "storage.type.module.lmp"},
                        "2": {"name": "entity.name.type.module.lmp"},
                    },
                    "end": r"(?=[{=#])|$",
                    "patterns": [{"include": "#header-rest"}],
                },
                {
                    "name": "meta.declaration.function.lmp",
                    "begin": rf"^\s*(?:(tool)|(metric))\s+({ID})",
                    "beginCaptures": {
                        "1": {"name": "storage.type.tool.lmp"},
                        "2": {"name": "storage.type.metric.lmp"},
                        "3": {"name": "entity.name.function.lmp"},
                    },
                    "end": r"(?=[{=#])|$",
                    "patterns": [{"include": "#header-rest"}],
                },
            ]
        },
        "header-rest": {
            "patterns": [
                {"include": "#parameters"},
                {"match": "->", "name": "keyword.operator.arrow.lmp"},
                {"include": "#type-expression"},
            ]
        },
        "parameters": {
            "name": "meta.parameters.lmp",
            "begin": r"\(",
            "end": r"\)",
            "beginCaptures": {"0": {"name": "punctuation.section.parens.begin.lmp"}},
            "endCaptures": {"0": {"name": "punctuation.section.parens.end.lmp"}},
            "patterns": [
                {"include": "#comment"},
                {
                    "match": rf"({ID})\s*(:)",
                    "captures": {
                        "1": {"name": "variable.parameter.lmp"},
                        "2": {"name": "punctuation.separator.colon.lmp"},
                    },
                },
                {"include": "#type-expression"},
                {"match": "=", "name": "keyword.operator.assignment.lmp"},
                {"include": "#literal"},
                {"match": rf"\b{ID}\b", "name": "variable.parameter.lmp"},
            ],
        },
        "example-block": {
            "name": "meta.example.lmp",
            "begin": rf"^\s*(example)\s+({ID}(?:\.{ID})?)(?:\s+(as)\s+({ID}))?\s*(\{{)",
            "beginCaptures": {
                "1": {"name": "storage.type.example.lmp"},
                "2": {"name": "entity.name.type.lmp"},
                "3": {"name": "keyword.other.as.lmp"},
                "4": {"name": "entity.name.other.example.lmp"},
                "5": {"name": "punctuation.section.braces.begin.lmp"},
            },
            "end": r"\}",
            "endCaptures": {"0": {"name": "punctuation.section.braces.end.lmp"}},
            "patterns": [
                {"include": "#comment"},
                {
                    "match": rf"^\s*({ID})\s*(:)",
                    "captures": {
                        "1": {"name": "variable.other.field.lmp"},
                        "2": {"name": "punctuation.separator.colon.lmp"},
                    },
                },
                {"include": "#expression"},
            ],
        },
        "test-block": {
            "name": "meta.test.lmp",
            "begin": rf"^\s*(test)\s+({ID})\s+(for)\s+({ID})\s*(\{{)",
            "beginCaptures": {
                "1": {"name": "storage.type.test.lmp"},
                "2": {"name": "entity.name.function.test.lmp"},
                "3": {"name": "keyword.other.for.lmp"},
                "4": {"name": "entity.name.type.lmp"},
                "5": {"name": "punctuation.section.braces.begin.lmp"},
            },
            "end": r"\}",
            "endCaptures": {"0": {"name": "punctuation.section.braces.end.lmp"}},
            "patterns": [
                {"include": "#comment"},
                {"match": r"^\s*(expect)\b", "captures": {"1": {"name": "keyword.control.expect.lmp"}}},
                {"match": r"^\s*(check)\b", "captures": {"1": {"name": "keyword.control.check.lmp"}}},
                {
                    "match": rf"^\s*({ID})\s*(:)",
                    "captures": {
                        "1": {"name": "variable.other.field.lmp"},
                        "2": {"name": "punctuation.separator.colon.lmp"},
                    },
                },
                {"include": "#expression"},
            ],
        },
        "named-declaration": {
            "match": rf"^\s*(?:(model)|(retriever)|(example))\s+({ID})",
            "captures": {
                "1": {"name": "storage.type.model.lmp"},
                "2": {"name": "storage.type.retriever.lmp"},
                "3": {"name": "storage.type.example.lmp"},
                "4": {"name": "entity.name.other.lmp"},
            },
        },
        "let-declaration": {
            "match": rf"\b(let)\s+({ID})",
            "captures": {
                "1": {"name": "storage.type.let.lmp"},
                "2": {"name": "variable.other.predictor.lmp"},
            },
        },
        "expression": {
            "patterns": [
                {"include": "#comment"},
                {"include": "#literal"},
                {"include": "#keyword"},
                {"include": "#builtin-type"},
                {
                    "match": r"\b(Predict|ChainOfThought|ReAct|Refine|BestOfN|ProgramOfThought|MultiChainComparison)\b",
                    "name": "support.class.predictor.lmp",
                },
                {
                    "match": r"\b(range|len|majority|join|concat|keys|unique|bm25|mcp|min|max|sum|abs|round|print|image|parallel)\b(?=\s*\()",
                    "name": "support.function.builtin.lmp",
                },
                {"match": r"\b[A-Z][A-Za-z0-9_]*\b", "name": "entity.name.type.lmp"},
                {
                    "match": rf"(\.)\s*({ID})",
                    "captures": {
                        "1": {"name": "punctuation.accessor.lmp"},
                        "2": {"name": "variable.other.property.lmp"},
                    },
                },
                {"match": rf"\b({ID})\s*(?=\()", "name": "entity.name.function.call.lmp"},
                {
                    "match": rf"\b({ID})\s*(:)(?!:)",
                    "captures": {
                        "1": {"name": "variable.other.field.lmp"},
                        "2": {"name": "punctuation.separator.colon.lmp"},
                    },
                },
                {"include": "#call-arguments"},
                {"match": "->", "name": "keyword.operator.arrow.lmp"},
                {"match": r"==|!=|<=|>=|<|>", "name": "keyword.operator.comparison.lmp"},
                {"match": r"\+=|-=|=", "name": "keyword.operator.assignment.lmp"},
                {"match": r"[-+*/%]", "name": "keyword.operator.arithmetic.lmp"},
                {"match": r"\|", "name": "keyword.operator.union.lmp"},
                {"match": r"\?", "name": "keyword.operator.optional.lmp"},
                {"match": ",", "name": "punctuation.separator.comma.lmp"},
                {"match": r"\{", "name": "punctuation.section.braces.begin.lmp"},
                {"match": r"\}", "name": "punctuation.section.braces.end.lmp"},
                {"match": r"\[", "name": "punctuation.section.brackets.begin.lmp"},
                {"match": r"\]", "name": "punctuation.section.brackets.end.lmp"},
                {"match": rf"\b{ID}\b", "name": "variable.other.lmp"},
            ]
        },
        "call-arguments": {
            "name": "meta.arguments.lmp",
            "begin": r"\(",
            "end": r"\)",
            "beginCaptures": {"0": {"name": "punctuation.section.parens.begin.lmp"}},
            "endCaptures": {"0": {"name": "punctuation.section.parens.end.lmp"}},
            "patterns": [
                {
                    "match": rf"\b({ID})\s*(:)(?!:)",
                    "captures": {
                        "1": {"name": "variable.parameter.lmp"},
                        "2": {"name": "punctuation.separator.colon.lmp"},
                    },
                },
                {"include": "#expression"},
            ],
        },
        "keyword": {
            "patterns": [
                {"match": r"\b(if|elif|else)\b", "name": "keyword.control.conditional.lmp"},
                {"match": r"\b(for|in)\b", "name": "keyword.control.loop.lmp"},
                {"match": r"\breturn\b", "name": "keyword.control.return.lmp"},
                {"match": r"\b(import)\b", "name": "keyword.control.import.lmp"},
                {"match": r"\b(using)\b", "name": "keyword.other.using.lmp"},
                {"match": r"\b(as)\b", "name": "keyword.other.as.lmp"},
                {"match": r"\b(and|or|not)\b", "name": "keyword.operator.logical.lmp"},
                {"match": r"\b(contains)\b", "name": "keyword.operator.contains.lmp"},
                {"match": r"\b(let)\b", "name": "storage.type.let.lmp"},
            ]
        },
        "literal": {
            "patterns": [
                {"include": "#string"},
                {"match": r"\b(true|false|True|False|none|None|null)\b", "name": "constant.language.lmp"},
                {
                    "match": r"(?<![\w.])\d+(?:\.\d+(?:[eE][+-]?\d+)?|[eE][+-]?\d+)\b",
                    "name": "constant.numeric.float.lmp",
                },
                {"match": r"(?<![\w.])\d+\b", "name": "constant.numeric.integer.lmp"},
            ]
        },
        "string": {
            "patterns": [
                {"include": "#docstring"},
                {"include": "#signature-string"},
                {
                    "name": "string.quoted.double.lmp",
                    "begin": r"\"",
                    "end": r"\"|$",
                    "beginCaptures": {"0": {"name": "punctuation.definition.string.begin.lmp"}},
                    "endCaptures": {"0": {"name": "punctuation.definition.string.end.lmp"}},
                    "patterns": [{"include": "#string-escape"}],
                },
            ]
        },
        "docstring": {
            "name": "string.quoted.docstring.triple.lmp",
            "begin": r"\"\"\"",
            "end": r"\"\"\"",
            "beginCaptures": {"0": {"name": "punctuation.definition.string.begin.lmp"}},
            "endCaptures": {"0": {"name": "punctuation.definition.string.end.lmp"}},
            "patterns": [{"include": "#string-escape"}],
        },
        "signature-string": {
            "comment": 'DSPy\'s inline signature form: "a: list[str], b -> c: int"',
            "name": "string.quoted.double.signature.lmp",
            "begin": r"\"(?=[^\"\\]*->[^\"]*\")",
            "end": r"\"",
            "beginCaptures": {"0": {"name": "punctuation.definition.string.begin.lmp"}},
            "endCaptures": {"0": {"name": "punctuation.definition.string.end.lmp"}},
            "patterns": [
                {"match": "->", "name": "keyword.operator.arrow.lmp"},
                {"include": "#builtin-type"},
                {"match": r"\b[A-Z][A-Za-z0-9_]*\b", "name": "entity.name.type.lmp"},
                {"match": rf"\b{ID}\b", "name": "variable.other.field.lmp"},
                {"match": r"\?", "name": "keyword.operator.optional.lmp"},
            ],
        },
        "string-escape": {"match": r"\\.", "name": "constant.character.escape.lmp"},
    },
}
out = pathlib.Path(__file__).with_name("lmp.tmLanguage.json")
text = json.dumps(g, indent=2) + "\n"
if "--check" in sys.argv:
    sys.exit(
        0
        if out.read_text() == text
        else "lmp.tmLanguage.json is stale: run python3 syntaxes/build_grammar.py"
    )
out.write_text(text)
