/* Cart revalidation against the service's live prices and stock (/api/stock), shared by the cart
   page (on arrival) and the checkout (on arrival and before placing). Changed prices, short stock
   and withdrawn items are taken over into the localStorage cart and explained in [data-cart-notice].
   When the service cannot be reached the cart stays as it is: orders are priced by the service. */
(() => {
  'use strict';
  const API = (document.documentElement.dataset.api || '/api').replace(/\/$/, '');

  async function check() {
    const store = window.storefrontCart;
    const cart = store.read();
    if (!cart.lines.length) return { changed: false };
    const query = cart.lines.map((l) => `sku=${encodeURIComponent(l.sku)}`).join('&');
    let data;
    try {
      const res = await fetch(`${API}/stock?${query}`, { credentials: 'include' });
      data = res.ok ? await res.json() : null;
    } catch (e) {
      data = null;
    }
    if (!data || !data.stock) return { changed: false, offline: true };
    const notes = [];
    const money = store.money;
    cart.lines = cart.lines.filter((l) => {
      const s = data.stock[l.sku];
      if (!s || !s.orderable) { notes.push(`${l.title} 已下架,已从购物车删除。`); return false; }
      if (s.price_minor !== l.price_minor || s.currency !== l.currency) {
        notes.push(`${l.title} 的价格已从 ${money(l.price_minor, l.currency)} 变为 ${money(s.price_minor, s.currency)}。`);
        Object.assign(l, { price_minor: s.price_minor, currency: s.currency });
      }
      if (s.available !== null && s.available < l.qty) {
        if (s.available <= 0) { notes.push(`${l.title} 已售罄,已从购物车删除。`); return false; }
        notes.push(`${l.title} 仅剩 ${s.available} 件,数量已调整为 ${s.available}。`);
        l.qty = s.available;
      }
      return true;
    });
    const box = document.querySelector('[data-cart-notice]');
    if (box) box.hidden = !notes.length;
    if (!notes.length) return { changed: false };
    store.save(cart);
    const message = `购物车已按最新价格和库存更新:${notes.join(' ')}`;
    if (box) box.textContent = message;
    return { changed: true, message };
  }

  window.storefrontCartCheck = check;
  // cart.js (deferred, earlier in the page) has defined window.storefrontCart by now.
  if (document.querySelector('[data-cart-page]') && window.storefrontCart) check();
})();
