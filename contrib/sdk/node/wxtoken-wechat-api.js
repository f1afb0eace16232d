'use strict';
// wechat-api with wxtoken: the API object reads the token wxtoken keeps and
// never calls WeChat's token API itself.
//
//   const wxtokenApi = require('./wxtoken-wechat-api');
//   const api = wxtokenApi('shop', { appid: 'wx85871939f7f9b647' });
//   api.getIp((err, ips) => ...);
//
// wechat-api takes getToken/saveToken callbacks; getToken here runs
// `wxtoken show --format json`, saveToken stores nothing (wxtoken is the only
// writer), and getAccessToken (its call to the token API) is replaced by an
// error. On errcode 40001/40014/42001 the refused token is invalidated with
// `wxtoken invalidate --if-token -` (only if it is still the stored one, so a
// fleet of clients marks it once); wechat-api then retries a 40001 once with
// the token read again. With refresh: true (hosts that hold the config and
// secret) `wxtoken refresh --app NAME` runs first: its lease lets one process
// fetch while the others wait.

const { spawnSync } = require('child_process');
const API = require('wechat-api');

const STALE = new Set([40001, 40014, 42001]);

module.exports = function wxtokenApi(app, opts = {}) {
  const bin = opts.wxtoken || 'wxtoken';
  const run = (args, input) =>
    spawnSync(bin, args, { input, encoding: 'utf8', env: opts.env || process.env });
  let reason = '';
  const read = () => {
    const r = run(['show', '--app', app, '--format', 'json']);
    if (r.status !== 0) {
      reason = r.stderr.trim();
      return null;
    }
    const j = JSON.parse(r.stdout);
    return { accessToken: j.token, expireTime: Date.parse(j.expires_at) };
  };
  const api = new API(opts.appid || app, '', (cb) => cb(null, read()), (token, cb) => cb(null));
  api.getAccessToken = function (cb) {
    cb(new Error(`wxtoken has no valid token for app ${app}: ${reason}`));
    return this;
  };
  if (opts.endpoint) {
    api.endpoint = opts.endpoint;
  }
  const request = api.request;
  api.request = function (url, options, cb) {
    if (typeof options === 'function') {
      cb = options;
      options = {};
    }
    request.call(this, url, options, (err, data, res) => {
      const refused = /[?&]access_token=([^&]*)/.exec(url);
      if (data && STALE.has(data.errcode) && refused) {
        run(['invalidate', '--app', app, '--if-token', '-'], decodeURIComponent(refused[1]) + '\n');
        if (opts.refresh) {
          run(['refresh', '--app', app]);
        }
      }
      cb(err, data, res);
    });
  };
  return api;
};
