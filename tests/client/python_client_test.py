"""Checks the Python client (client/python/moe_client) against a running moe-serve with the
demo model. Usage: python_client_test.py TARGET. Prints PASS and exits 0 when all checks pass."""

import sys
import time

from moe_client import Client, Error


def expect_error(code, fn):
    try:
        fn()
    except Error as e:
        assert e.code == code, f"expected {code}, got {e.code}: {e.message}"
        return e
    raise AssertionError(f"expected {code}, got no error")


def main(target):
    with Client(target) as c:
        assert c.health() is True
        assert c.health("moe.v1.Inference", timeout=10) is True
        expect_error("NOT_FOUND", lambda: c.health("no.such.Service"))
        info = c.model_info(timeout=10)
        assert info.model_type == "qwen3_moe" and info.vocab_size == 151936, info
        assert len(c.tokenize("hello world").ids) == 2

        # Streaming: several deltas, the last one with the finish reason and usage.
        s = c.generate("To be, or not to be", max_tokens=8, temperature=0.0, ignore_eos=True)
        deltas = list(s)
        assert len(deltas) >= 2, deltas
        assert sum(len(d.token_ids) for d in deltas) == 8
        assert s.result.finish_reason == "length" and s.result.usage.completion_tokens == 8
        assert s.result.text == "".join(d.text for d in deltas) and s.result.text
        assert s.code() == "OK"
        again = c.generate("To be, or not to be", max_tokens=8, temperature=0.0,
                           ignore_eos=True).collect()
        assert again.token_ids == s.result.token_ids

        r = c.generate(token_ids=[785, 3974, 13], max_tokens=3, ignore_eos=True,
                       logprobs=2).collect()
        assert len(r.token_ids) == 3 and len(r.logprobs) == 3 and len(r.logprobs[0].top) == 2
        r = c.chat([{"role": "user", "content": "Who art thou?"}], enable_thinking=False,
                   max_tokens=4, ignore_eos=True).collect()
        assert r.usage.completion_tokens == 4 and r.usage.prompt_tokens > 5

        # Leaving the loop early cancels the call on the server, promptly.
        start = time.monotonic()
        s = c.generate("Once more unto the breach", max_tokens=1500, ignore_eos=True)
        for _ in s:
            break
        assert s.code() == "CANCELLED"
        assert time.monotonic() - start < 20
        with c.generate("Once more unto the breach", max_tokens=1500, ignore_eos=True) as s:
            next(iter(s))
        assert s.code() == "CANCELLED"

        # Deadlines and invalid arguments.
        expect_error("DEADLINE_EXCEEDED", lambda: c.generate(
            "Now is the winter", max_tokens=1500, ignore_eos=True, timeout=0.3).collect())
        e = expect_error("INVALID_ARGUMENT", lambda: c.generate("x", temperature=-1.0).collect())
        assert "temperature" in e.message, e.message
        try:
            c.generate("x", no_such_parameter=1)
            raise AssertionError("unknown sampling parameter accepted")
        except TypeError:
            pass
        # The server still answers.
        assert len(c.generate("Hark", max_tokens=2, ignore_eos=True).collect().token_ids) == 2
    print("PASS")


if __name__ == "__main__":
    main(sys.argv[1])
