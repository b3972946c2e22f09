// Node clients against a running gateway: a two-step tool loop with reasoning through openai-node 7
// and 6 (runTools, stream and not) and the Vercel AI SDK (generateText, streamText). Prints one JSON
// line per case: {"client", "model", "ok", "text" | "error"}; exits 1 if any case failed.
// Usage: GATEWAY_URL=http://127.0.0.1:8000/v1 GATEWAY_KEY=sk-... MODELS=claude,gemini node clients.mjs
import OpenAI from "openai";
import OpenAI6 from "openai6";
import { generateText, streamText, tool, jsonSchema, stepCountIs } from "ai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";

const baseURL = process.env.GATEWAY_URL;
const apiKey = process.env.GATEWAY_KEY;
const models = (process.env.MODELS || "claude,claude-bedrock,gemini").split(",");
const question = "What is the weather in Paris?";
const weatherSchema = { type: "object", properties: { city: { type: "string" } }, required: ["city"] };
const weather = async ({ city }) => `sunny, 24 C in ${city}`;

async function openaiNode(SDK, model, stream) {
  const client = new SDK({ baseURL, apiKey, maxRetries: 0 });
  const runner = client.chat.completions.runTools({
    model,
    stream,
    reasoning_effort: "low",
    messages: [{ role: "user", content: question }],
    tools: [{ type: "function", function: { name: "get_weather", parameters: weatherSchema, function: weather, parse: JSON.parse } }],
  });
  return await runner.finalContent();
}

async function vercel(model, stream) {
  const provider = createOpenAICompatible({ name: "gateway", baseURL, apiKey });
  const options = {
    model: provider(model),
    prompt: question,
    reasoning: "low",
    stopWhen: stepCountIs(3),
    maxRetries: 0,
    tools: { get_weather: tool({ description: "The weather in a city.", inputSchema: jsonSchema(weatherSchema), execute: weather }) },
  };
  if (!stream) return (await generateText(options)).text;
  const result = streamText({ ...options, onError: ({ error }) => { throw error; } });
  let text = "";
  for await (const piece of result.textStream) text += piece;
  return text;
}

const cases = [];
for (const model of models) {
  for (const stream of [false, true]) {
    cases.push(["openai-node-7", model, stream, () => openaiNode(OpenAI, model, stream)]);
    cases.push(["openai-node-6", model, stream, () => openaiNode(OpenAI6, model, stream)]);
    cases.push(["vercel-ai-sdk", model, stream, () => vercel(model, stream)]);
  }
}
let failed = 0;
for (const [client, model, stream, run] of cases) {
  try {
    const text = await run();
    console.log(JSON.stringify({ client, model, stream, ok: true, text }));
  } catch (error) {
    failed += 1;
    console.log(JSON.stringify({ client, model, stream, ok: false, error: String(error?.message || error).slice(0, 500) }));
  }
}
process.exit(failed ? 1 : 0);
