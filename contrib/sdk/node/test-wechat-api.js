'use strict';
// wechat-api with wxtoken, against the stand-in (run by contrib/sdk/run).
// Proves that the SDK's API calls carry wxtoken's token, that the SDK never
// calls the token endpoint, and that a 40001 seen by a fleet of clients leads
// to one fetch (by wxtoken), not one per client. Needs WXTOKEN (the binary),
// WXTOKEN_API_BASE (the stand-in), WXTOKEN_DB, WXTOKEN_SECRET and a throwaway
// HOME in the environment; wechat-api in NODE_PATH.

const assert = require('assert');
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const wxtokenApi = require('./wxtoken-wechat-api');

const WXTOKEN = process.env.WXTOKEN;
const BASE = process.env.WXTOKEN_API_BASE;

const standin = async (p) => (await fetch(BASE + p)).json();
const calls = (p) => standin('/standin/calls?path=' + p);
const wxtoken = (...args) => execFileSync(WXTOKEN, args, { encoding: 'utf8' });
const client = (opts = {}) => wxtokenApi('shop', { appid: 'wxshop', wxtoken: WXTOKEN, endpoint: BASE, ...opts });
const getIp = (api) => new Promise((ok, fail) => api.getIp((err, ips) => (err ? fail(err) : ok(ips))));

async function main() {
  const config = path.join(process.env.HOME, 'config.toml');
  fs.writeFileSync(config, '[[app]]\nname = "shop"\nappid = "wxshop"\nsecret_env = "WXTOKEN_SECRET"\n');
  process.env.WXTOKEN_CONFIG = config;
  wxtoken('refresh');
  const first = wxtoken('show', '--app', 'shop').trim();
  assert.strictEqual((await calls('/cgi-bin/token')).count, 1);

  // The SDK's calls carry wxtoken's token; the token endpoint is not called.
  assert.deepStrictEqual((await getIp(client())).ip_list, ['127.0.0.1']);
  assert.deepStrictEqual((await calls('/cgi-bin/getcallbackip')).access_tokens, [first]);

  // Upstream kills the token: a fleet of clients each see 40001.
  await standin('/standin/reject?access_token=' + first);
  const fleet = [1, 2, 3, 4].map(() => client({ refresh: true }));
  const results = await Promise.all(fleet.map(getIp));
  results.forEach((r) => assert.deepStrictEqual(r.ip_list, ['127.0.0.1']));
  const second = wxtoken('show', '--app', 'shop').trim();
  assert.notStrictEqual(second, first);
  const token = await calls('/cgi-bin/token');
  assert.strictEqual(token.count, 2, 'one fetch for the whole fleet: ' + JSON.stringify(token));
  // Each with the secret, which only wxtoken has: none by the SDK.
  assert.strictEqual(token.with_secret, 2, JSON.stringify(token));
  const carried = (await calls('/cgi-bin/getcallbackip')).access_tokens;
  assert.strictEqual(carried.filter((t) => t === second).length, 4, JSON.stringify(carried));
  assert.ok(carried.filter((t) => t === first).length >= 4, JSON.stringify(carried));
  console.log(`wechat-api: ok (${carried.length} business calls, ${token.count} token calls, all by wxtoken)`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
