"""`lmp preview prog.lmp Target`: the exact messages a predictor would send, without calling a model."""

from __future__ import annotations

import argparse
import json
import sys

from lmp.cli.main import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("preview", help="print the exact messages a predictor would send (no model call)",
                       description="Render a predictor's prompt: system message, demos and the user message, then the "
                       "decoding constraint; for a ReAct predictor also how its tools go to its model (native "
                       "`tools` definitions, or the text protocol). Each message shows its token count: exact "
                       "for the local model (its own tokenizer and chat template, read from the model file; "
                       "nothing is downloaded), otherwise an estimate shown as ≈N (about 4 characters per "
                       "token).")
    p.add_argument("program", help="the .lmp file")
    p.add_argument("target", help="predictor (Module.name or name) or signature")
    p.add_argument("-i", dest="fields", action="append", default=[], metavar="FIELD=VALUE",
                   help="an input value, read by its declared type as in `lmp run -i` (overrides the example's)")
    p.add_argument("--example", metavar="NAME", help="take inputs from this `example` block")
    p.add_argument("--state", metavar="STATE.json", help="apply optimized instructions/demos")
    p.add_argument("--json", action="store_true", help="print the preview as JSON")
    p.add_argument("--schema", action="store_true", help="print the JSON Schema of the outputs instead")
    p.set_defaults(func=run)


def _inputs_header(example: str | None, from_cli: list[str]) -> str:
    given = ", ".join(from_cli)
    if example is None:
        return f"inputs: {given} from -i" if from_cli else "example: -"
    return f"example: {example}" + (f" ({given} from -i)" if from_cli else "")


TOKENIZER_WAIT = 30.0


def run(args: argparse.Namespace) -> int:
    from lmp.cli.cmd_run import require_program
    from lmp.project import load_program
    from lmp.runtime.inputs import InputValueError, parse_assignments
    from lmp.runtime.preview import find_predictor, output_schema, render_preview

    require_program(args.program, "preview")
    loaded = load_program(args.program)
    if loaded.errors:
        print(f"warning: {args.program} has {len(loaded.errors)} error(s) (see `lmp check`); previewing anyway",
              file=sys.stderr)
    program = loaded.program
    if args.schema:
        print(json.dumps(output_schema(program, args.target), indent=2, ensure_ascii=False))
        return 0
    _, sig = find_predictor(program, args.target)
    types = {f.name: f.type for f in sig.inputs}
    try:
        inputs = parse_assignments(args.fields, None, types)
    except InputValueError as exc:
        raise UsageError(str(exc)) from None
    # One command, not an editor: waiting for the model's tokenizer (a fraction of a second) is fine.
    preview = render_preview(program, args.target, example=args.example, inputs=inputs, state=args.state,
                             count_tokens=TOKENIZER_WAIT)
    # Where the inputs came from: an example that -i overrode entirely is not the preview's example.
    if inputs and preview.example is not None and args.example is None and set(types) <= set(inputs):
        preview.example = None
    if args.json:
        print(json.dumps(preview.to_json(), indent=2, ensure_ascii=False))
        return 0
    print(f"predictor: {preview.predictor_id}  (signature {preview.signature}, adapter {preview.adapter}, "
          f"model {preview.model or '?'})")
    print(f"{_inputs_header(preview.example, list(inputs))}   state: {preview.state or '-'}")
    counts = preview.tokens.per_message if preview.tokens is not None else []
    for i, m in enumerate(preview.messages):
        shown = f" · {preview.tokens.label(counts[i])}" if preview.tokens is not None and i < len(counts) else ""
        print(f"\n──── {m['role']}{shown} ────")
        print(m["content"])
    if preview.tokens is not None:
        print(f"\ntokens: {preview.tokens.summary()}")
    if preview.constraint:  # what decoding is held to: the grammar/schema sent with the call
        print("\n" + preview.constraint_text())
    if preview.tools:  # ReAct: native tool definitions or the text protocol
        from lmp.runtime.tools_native import format_tools

        print("\n" + format_tools(preview.tools))
    return 0
