#!/usr/bin/env python3
"""Example: health, model info, tokenize, then a streamed chat (or generate) answer.

    client/python/generate_stubs.sh build/client/python
    PYTHONPATH=build/client/python:client/python python3 client/python/example.py \
        --target localhost:50051 --prompt "Who art thou?"

Exit code 0 on success, 1 on an RPC error ("example: CODE: message" on stderr).
"""

import argparse
import os
import sys

from moe_client import Client, Error


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", default="localhost:50051")
    p.add_argument("--api-key", default=os.environ.get("MOE_API_KEY"))
    p.add_argument("--tls-ca", help="PEM CA file (enables TLS)")
    p.add_argument("--tls-server-name", help="name to check in the server certificate")
    p.add_argument("--prompt", default="Who art thou?")
    p.add_argument("--ids", help="token ids 1,2,3 (for models without a tokenizer)")
    p.add_argument("--max-tokens", type=int, default=24)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per call")
    a = p.parse_args()

    with Client(a.target, api_key=a.api_key, tls_ca=a.tls_ca,
                server_name=a.tls_server_name) as client:
        print("health:", "SERVING" if client.health(timeout=a.timeout) else "NOT_SERVING")
        info = client.model_info(timeout=a.timeout)
        print(f"model: {info.model_id} ({info.model_type}), vocab {info.vocab_size}, "
              f"layout {info.layout}")
        sampling = dict(max_tokens=a.max_tokens, temperature=a.temperature, timeout=a.timeout)
        if a.ids or not info.has_tokenizer:
            ids = [int(t) for t in (a.ids or "1,2,3").split(",")]
            stream = client.generate(token_ids=ids, **sampling)
        else:
            print("tokens:", list(client.tokenize(a.prompt, timeout=a.timeout).ids))
            stream = client.chat([{"role": "user", "content": a.prompt}],
                                 enable_thinking=False, **sampling)
        print("answer: ", end="", flush=True)
        for delta in stream:
            print(delta.text, end="", flush=True)
        r = stream.result
        print()
        print(f"token_ids: {r.token_ids}")
        print(f"finish: {r.finish_reason}, prompt_tokens={r.usage.prompt_tokens}, "
              f"completion_tokens={r.usage.completion_tokens}, deltas={r.num_deltas}")


if __name__ == "__main__":
    try:
        main()
    except Error as e:
        print(f"example: {e.code}: {e.message}", file=sys.stderr)
        sys.exit(1)
