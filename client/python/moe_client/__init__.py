"""A thin Python client of moe-serve (moe.v1.Inference over gRPC).

    from moe_client import Client
    with Client("localhost:50051") as client:
        for delta in client.chat([{"role": "user", "content": "hello"}], max_tokens=32):
            print(delta.text, end="", flush=True)

Needs python3-grpcio and python3-protobuf, and the generated stubs (moe/v1/inference_pb2*.py,
grpc_health/v1/health_pb2*.py) on sys.path: run client/python/generate_stubs.sh, or build the
project (CMake writes them to <build>/client/python).

Streams are iterators of moe.v1.GenerateResponse deltas. Leaving the loop early (break), close()
or leaving a `with` block cancels the call on the server. `timeout` (seconds) is the deadline of
the whole call. Errors raise moe_client.Error with the gRPC status code name and message.
"""

import grpc

from moe.v1 import inference_pb2 as pb
from moe.v1 import inference_pb2_grpc as pb_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

__all__ = ["Client", "Error", "Stream", "Result", "pb"]

_SAMPLING_FIELDS = (
    "temperature", "top_k", "top_p", "min_p", "repetition_penalty", "presence_penalty",
    "frequency_penalty", "seed", "max_tokens", "ignore_eos", "include_stop_str_in_output",
    "logprobs", "skip_special_tokens", "min_tokens")


class Error(Exception):
    """A failed call: `code` is the gRPC status code name (e.g. "INVALID_ARGUMENT")."""

    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @staticmethod
    def from_rpc(err):
        code = err.code() if hasattr(err, "code") else None
        name = code.name if code is not None else "UNKNOWN"
        details = err.details() if hasattr(err, "details") else str(err)
        return Error(name, details or "")


class Result:
    """A whole generation: text, token ids, finish reason, usage (accumulated deltas)."""

    def __init__(self):
        self.request_id = ""
        self.text = ""
        self.token_ids = []
        self.prompt_token_ids = []
        self.logprobs = []
        self.finish_reason = "none"  # "stop" or "length" once finished
        self.stop_reason = ""
        self.usage = None  # pb.Usage
        self.num_deltas = 0

    def add(self, delta):
        self.request_id = self.request_id or delta.request_id
        self.text += delta.text
        self.token_ids.extend(delta.token_ids)
        self.prompt_token_ids.extend(delta.prompt_token_ids)
        self.logprobs.extend(delta.logprobs)
        if delta.finish_reason != pb.FINISH_REASON_UNSPECIFIED:
            self.finish_reason = _finish_name(delta.finish_reason)
        if delta.stop_reason:
            self.stop_reason = delta.stop_reason
        if delta.HasField("usage"):
            self.usage = delta.usage
        self.num_deltas += 1


def _finish_name(reason):
    return {pb.FINISH_REASON_STOP: "stop", pb.FINISH_REASON_LENGTH: "length"}.get(reason, "none")


class Stream:
    """One streaming call: iterate for deltas; cancel() or close() stops it on the server."""

    def __init__(self, call):
        self._call = call
        self._finished = False
        self.result = Result()  # filled as deltas arrive

    def __iter__(self):
        try:
            for delta in self._call:
                self.result.add(delta)
                yield delta
            self._finished = True
        except grpc.RpcError as err:
            self._finished = True
            raise Error.from_rpc(err) from None
        finally:
            if not self._finished:  # left early (break, close, garbage collection)
                self.cancel()

    def cancel(self):
        self._call.cancel()

    def code(self):
        """The call's final status code name ("OK", "CANCELLED", ...); waits for the end."""
        return self._call.code().name

    close = cancel

    def collect(self):
        """Reads the rest of the stream; returns the Result."""
        for _ in self:
            pass
        return self.result

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cancel()

    def __del__(self):
        try:
            self._call.cancel()
        except Exception:  # interpreter shutdown
            pass


class Client:
    """A connection to one moe-serve gRPC endpoint. Thread-safe (one shared channel)."""

    def __init__(self, target="localhost:50051", api_key=None, tls_ca=None, tls=None,
                 server_name=None):
        """tls_ca: a PEM CA file (implies TLS); tls=True without it uses the system roots;
        server_name overrides the name checked in the server certificate."""
        self._metadata = (("authorization", f"Bearer {api_key}"),) if api_key else None
        options = [("grpc.max_receive_message_length", -1)]
        if tls or tls_ca:
            roots = None
            if tls_ca:
                with open(tls_ca, "rb") as f:
                    roots = f.read()
            if server_name:
                options.append(("grpc.ssl_target_name_override", server_name))
            creds = grpc.ssl_channel_credentials(root_certificates=roots)
            self._channel = grpc.secure_channel(target, creds, options=options)
        else:
            self._channel = grpc.insecure_channel(target, options=options)
        self._stub = pb_grpc.InferenceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def generate(self, prompt=None, *, token_ids=None, stop=(), stop_token_ids=(),
                 request_id="", timeout=None, **sampling):
        """Streams a completion of `prompt` (text) or `token_ids`. Sampling keywords:
        temperature, top_k, top_p, min_p, repetition_penalty, presence_penalty,
        frequency_penalty, seed, max_tokens, ignore_eos, include_stop_str_in_output, logprobs,
        skip_special_tokens, min_tokens."""
        if (prompt is None) == (token_ids is None):
            raise ValueError("generate needs exactly one of prompt and token_ids")
        req = pb.GenerateRequest(request_id=request_id,
                                 sampling=_sampling(stop, stop_token_ids, sampling))
        if prompt is not None:
            req.text = prompt
        else:
            req.token_ids.ids.extend(token_ids)
        return Stream(self._stub.Generate(req, timeout=timeout, metadata=self._metadata))

    def chat(self, messages, *, tools=(), enable_thinking=None, add_generation_prompt=None,
             stop=(), stop_token_ids=(), request_id="", timeout=None, **sampling):
        """Streams the assistant's answer to `messages`: dicts with role, content (and the
        other ChatMessage fields) or pb.ChatMessage; `tools`: OpenAI-style JSON strings."""
        req = pb.ChatRequest(request_id=request_id, tools_json=list(tools),
                             sampling=_sampling(stop, stop_token_ids, sampling))
        for m in messages:
            req.messages.append(m if isinstance(m, pb.ChatMessage) else pb.ChatMessage(**m))
        if enable_thinking is not None:
            req.enable_thinking = enable_thinking
        if add_generation_prompt is not None:
            req.add_generation_prompt = add_generation_prompt
        return Stream(self._stub.Chat(req, timeout=timeout, metadata=self._metadata))

    def tokenize(self, text, timeout=None):
        """Returns pb.TokenizeResponse (ids, tokens)."""
        return self._unary(self._stub.Tokenize, pb.TokenizeRequest(text=text), timeout)

    def model_info(self, timeout=None):
        """Returns pb.ModelInfoResponse."""
        return self._unary(self._stub.ModelInfo, pb.ModelInfoRequest(), timeout)

    def health(self, service="", timeout=None):
        """True when the server (or `service`) is SERVING, False when NOT_SERVING."""
        resp = self._unary(self._health.Check, health_pb2.HealthCheckRequest(service=service),
                           timeout)
        return resp.status == health_pb2.HealthCheckResponse.SERVING

    def _unary(self, method, request, timeout):
        try:
            return method(request, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as err:
            raise Error.from_rpc(err) from None


def _sampling(stop, stop_token_ids, kwargs):
    unknown = set(kwargs) - set(_SAMPLING_FIELDS)
    if unknown:
        raise TypeError(f"unknown sampling parameters: {sorted(unknown)}")
    params = pb.SamplingParams(stop=list(stop), stop_token_ids=list(stop_token_ids))
    for name, value in kwargs.items():
        if value is not None:
            setattr(params, name, value)
    return params
