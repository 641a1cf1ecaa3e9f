// Calls moe-serve's OpenAI-compatible API with the official `openai` npm client:
//   node chat_test.mjs BASE_URL MODEL [API_KEY]
// (BASE_URL like http://127.0.0.1:8000/v1). Checks models.list, chat.completions.create with
// and without streaming (greedy: both must give the same text), and completions.create.
// Prints one JSON summary line; exits 1 with the reason when a check fails.
import OpenAI from "openai";

const [baseURL, model, apiKey] = process.argv.slice(2);
if (!baseURL || !model) {
  console.error("usage: node chat_test.mjs BASE_URL MODEL [API_KEY]");
  process.exit(2);
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const client = new OpenAI({ baseURL, apiKey: apiKey || "none", maxRetries: 0, timeout: 60000 });

async function main() {
  const models = await client.models.list();
  const ids = models.data.map((m) => m.id);
  check(ids.includes(model), `models.list: ${JSON.stringify(ids)} lacks ${model}`);

  const request = {
    model,
    messages: [{ role: "user", content: "Say something about the sea." }],
    max_tokens: 12,
    temperature: 0,
  };
  const whole = await client.chat.completions.create(request);
  check(whole.object === "chat.completion", `object ${whole.object}`);
  const message = whole.choices[0].message;
  check(message.role === "assistant", `role ${message.role}`);
  check(typeof message.content === "string" && message.content.length > 0, "empty content");
  check(whole.usage.completion_tokens > 0, "no completion tokens in usage");

  const stream = await client.chat.completions.create({
    ...request,
    stream: true,
    stream_options: { include_usage: true },
  });
  let streamed = "";
  let finish = null;
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      if (choice.delta?.content) streamed += choice.delta.content;
      if (choice.finish_reason) finish = choice.finish_reason;
    }
  }
  check(streamed === message.content,
        `streamed ${JSON.stringify(streamed)} != ${JSON.stringify(message.content)}`);
  check(finish === whole.choices[0].finish_reason, `finish_reason ${finish}`);
  check(usage && usage.completion_tokens === whole.usage.completion_tokens, "stream usage");

  const completion = await client.completions.create({
    model,
    prompt: "The sea",
    max_tokens: 5,
    temperature: 0,
  });
  check(completion.choices[0].text.length > 0, "empty completion text");

  let badRequest = null;
  try {
    await client.chat.completions.create({ ...request, temperature: -1 });
  } catch (e) {
    badRequest = e;
  }
  check(badRequest && badRequest.status === 400, `temperature -1: ${badRequest}`);

  console.log(JSON.stringify({ ok: true, content: message.content, chunks,
                               completion: completion.choices[0].text }));
}

main().catch((e) => {
  console.error(`openai client check failed: ${e.message}`);
  process.exit(1);
});
