/* The checkout API as the shop's pages call it (checkout, my orders, the payment return page):
   JSON in and out with the session cookie; answers { ok, status, data }, never throws. */
(() => {
  'use strict';
  const API = (document.documentElement.dataset.api || '/api').replace(/\/$/, '');

  // Logged out (no readable sf_signed_in hint, API on this origin) the shopper's own data can only
  // answer 401, which browsers log as an error: answer it here without asking.
  const signedOut = () => !(/^https?:/.test(API) && API.indexOf(location.origin + '/') !== 0)
    && !/(?:^|;\s*)sf_signed_in=1/.test(document.cookie);

  async function call(method, path, body) {
    if (/^\/(me|orders)\b/.test(path) && signedOut()) {
      return { ok: false, status: 401, data: { error: { code: 'unauthorized', message: '请先登录。' } } };
    }
    const init = { method, credentials: 'include', headers: { 'Content-Type': 'application/json' } };
    if (body !== undefined) init.body = JSON.stringify(body);
    try {
      const res = await fetch(API + path, init);
      const data = (res.headers.get('Content-Type') || '').includes('json') ? await res.json() : {};
      return { ok: res.ok, status: res.status, data };
    } catch (e) {
      return { ok: false, status: 0, data: { error: { code: 'network', message: '网络连接失败。' } } };
    }
  }

  window.storefrontApi = { API, call };
})();
