// The discord.js side of the peer suite: @discordjs/rest, unmodified but for its `api` option,
// run against the loopback Discord. Reads its setup as JSON from argv[2], runs every scenario
// in turn, and prints one JSON object: scenario name -> what the client saw.
'use strict';
const { REST, DiscordAPIError } = require('@discordjs/rest');

const setup = JSON.parse(process.argv[2]);
const api = setup.api; // http://127.0.0.1:PORT/api
const rest = new REST({ api, version: '10', retries: 1 }).setToken(setup.token);
const channelRoute = `/channels/${setup.channel}/messages`;
const hookRoute = `/webhooks/${setup.webhook.id}/${setup.webhook.token}`;
const wait = new URLSearchParams({ wait: 'true' });

function file(i, size = 16) {
  return { name: `f${i}.bin`, data: Buffer.alloc(size, i), contentType: 'application/octet-stream' };
}

function files(count, size) {
  return Array.from({ length: count }, (_, i) => file(i, size));
}

function withAttachments(body, list) {
  return { ...body, attachments: list.map((f, i) => ({ id: i, filename: f.name })) };
}

function seen(message) {
  return {
    id: message.id,
    type: message.type,
    content: message.content,
    attachments: message.attachments.map((a) => [a.filename, a.size]),
    embeds: message.embeds,
    message_reference: message.message_reference ?? null,
    nonce: message.nonce ?? null,
  };
}

async function refused(call) {
  try {
    await call();
    return { refused: false };
  } catch (error) {
    if (error instanceof DiscordAPIError) return { refused: true, status: error.status, code: error.code };
    return { refused: true, error: String(error) };
  }
}

const scenarios = {
  async login() {
    const user = await rest.get('/users/@me');
    return { id: user.id, bot: user.bot };
  },
  async bad_token() {
    const stranger = new REST({ api, version: '10', retries: 0 }).setToken('not-the-token');
    return refused(() => stranger.get('/users/@me'));
  },
  async text() {
    return seen(await rest.post(channelRoute, { body: { content: 'hello' } }));
  },
  async one_file() {
    const list = files(1);
    return seen(await rest.post(channelRoute, { body: withAttachments({ content: 'one' }, list), files: list }));
  },
  async ten_files() {
    const list = files(10);
    return seen(await rest.post(channelRoute, { body: withAttachments({}, list), files: list }));
  },
  async eleven_files() {
    const list = files(11);
    return refused(() => rest.post(channelRoute, { body: withAttachments({}, list), files: list }));
  },
  async too_large() {
    const list = [file(0, setup.file_limit + 1)];
    return refused(() => rest.post(channelRoute, { body: withAttachments({}, list), files: list }));
  },
  async edit() {
    const sent = await rest.post(channelRoute, { body: { content: 'v1' } });
    return seen(await rest.patch(`${channelRoute}/${sent.id}`, { body: { content: 'v2' } }));
  },
  async reply() {
    const first = await rest.post(channelRoute, { body: { content: 'question' } });
    const body = { content: 'answer', message_reference: { message_id: first.id } };
    return { to: first.id, reply: seen(await rest.post(channelRoute, { body })) };
  },
  async embed() {
    const embed = { title: 'Report', description: 'all good', color: 0x00ff00, fields: [{ name: 'a', value: 'b' }] };
    return seen(await rest.post(channelRoute, { body: { embeds: [embed] } }));
  },
  async nonce() {
    const body = { content: 'once', nonce: 'peer-js-1', enforce_nonce: true };
    const first = await rest.post(channelRoute, { body });
    const again = await rest.post(channelRoute, { body });
    return { first: first.id, again: again.id, nonce: first.nonce };
  },
  async unknown_channel() {
    return refused(() => rest.post('/channels/42/messages', { body: { content: 'x' } }));
  },
  async webhook_files() {
    const one = files(1);
    const ten = files(10);
    const options = (list) => ({ body: withAttachments({}, list), files: list, query: wait, auth: false });
    const first = await rest.post(hookRoute, options(one));
    const second = await rest.post(hookRoute, options(ten));
    const edited = await rest.patch(`${hookRoute}/messages/${first.id}`, { body: { content: 'edited' }, auth: false });
    return { one: seen(first), ten: seen(second), edited: seen(edited) };
  },
  async obeys_injected_429() {
    const started = Date.now();
    await rest.post(`/channels/${setup.channel}/typing`);
    return { waited_ms: Date.now() - started };
  },
  async concurrent() {
    const count = setup.concurrent;
    const posts = Array.from({ length: count }, (_, i) => rest.post(channelRoute, { body: { content: `c${i}` } }));
    const hooks = Array.from({ length: count }, (_, i) =>
      rest.post(hookRoute, { body: { content: `w${i}` }, query: wait, auth: false }),
    );
    const sent = await Promise.all([...posts, ...hooks]);
    return { sent: sent.length, distinct: new Set(sent.map((m) => m.id)).size };
  },
};

async function main() {
  const results = {};
  for (const [name, run] of Object.entries(scenarios)) {
    try {
      results[name] = await run();
    } catch (error) {
      results[name] = { failed: String(error && error.stack ? error.stack : error) };
    }
  }
  process.stdout.write(JSON.stringify(results));
}

main();
