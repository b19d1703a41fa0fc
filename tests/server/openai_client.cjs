// The official openai npm client against a running favor serve: a chat completion whole and
// streamed, a text completion, the model list, and an error as the client raises it. Prints one
// JSON line of what it saw; tests/server/serve_process_test.cc checks it.
// usage: node openai_client.cjs BASE_URL MODULES_DIR
const path = require('path');
const OpenAI = require(path.join(process.argv[3], 'openai'));

async function main() {
  const client = new OpenAI({baseURL: process.argv[2], apiKey: 'sesame', maxRetries: 0});
  const messages = [{role: 'user', content: 'Once upon a time'}];
  const whole = await client.chat.completions.create(
      {model: 'tiny', messages, max_tokens: 24, temperature: 0});
  let streamed = '';
  let finish = null;
  let usage = null;
  const stream = await client.chat.completions.create({
    model: 'tiny', messages, max_tokens: 24, temperature: 0, stream: true,
    stream_options: {include_usage: true},
  });
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    if (chunk.choices.length === 0) continue;
    streamed += chunk.choices[0].delta.content ?? '';
    if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
  }
  const completion = await client.completions.create(
      {model: 'tiny', prompt: 'Tom had a red ball.', max_tokens: 8, temperature: 0});
  const models = await client.models.list();
  let error = null;
  try {
    await client.chat.completions.create({model: 'tiny', messages: [], max_tokens: 4});
  } catch (e) {
    error = {status: e.status, type: e.type, message: e.message};
  }
  console.log(JSON.stringify({
    whole: whole.choices[0].message.content,
    whole_finish: whole.choices[0].finish_reason,
    whole_usage: whole.usage,
    streamed, finish, usage,
    completion: completion.choices[0].text,
    models: models.data.map((m) => m.id),
    error,
  }));
}

main().catch((e) => {
  console.error(`openai client failed: ${e.stack || e}`);
  process.exit(1);
});
