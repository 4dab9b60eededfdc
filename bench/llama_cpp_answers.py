"""The run's export-check questions answered by llama.cpp itself from a GGUF export: greedy
(temperature 0), through llama-cpp-python's create_chat_completion with the chat template the file
carries, each conversation as the export check asks it (the training system message, then the
question). One JSON line per question, to put beside `farense-tui chat --run RUN --json`.

  pip install llama-cpp-python   # builds llama.cpp from source (minutes); not a project dependency
  python bench/llama_cpp_answers.py runs/RUN/exports/step40-gguf/model-f16.gguf [--data data]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from llama_cpp import Llama  # noqa: E402

from farense_tui.engine.export.samples import check_conversations  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("gguf")
    parser.add_argument("--data", default=str(REPO / "data"))
    parser.add_argument("--max-tokens", type=int, default=256)
    args = parser.parse_args()
    llm = Llama(model_path=args.gguf, n_ctx=1024, n_threads=2, verbose=False)
    print(
        json.dumps(
            {"chat_format": llm.chat_format, "general.name": llm.metadata.get("general.name")},
            ensure_ascii=False,
        )
    )
    for messages in check_conversations(Path(args.data)):
        t = time.perf_counter()
        reply = llm.create_chat_completion(
            messages=messages, temperature=0.0, max_tokens=args.max_tokens
        )
        choice = reply["choices"][0]
        print(
            json.dumps(
                {
                    "question": messages[-1]["content"],
                    "answer": choice["message"]["content"],
                    "finish_reason": choice["finish_reason"],
                    "seconds": round(time.perf_counter() - t, 3),
                },
                ensure_ascii=False,
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
