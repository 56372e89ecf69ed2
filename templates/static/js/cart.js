/* Storefront demo theme: the cart in localStorage["storefront.cart.v1"] (see docs/templates.md).
   Prices stay integer minor units until formatted; they are for display, the service prices orders. */
(() => {
  'use strict';
  const KEY = 'storefront.cart.v1';
  const MAX_QTY = 99;
  const SKU = /^[A-Za-z0-9_-]{1,64}$/;
  const CURRENCY = /^[A-Z]{3}$/;

  const each = (root, sel, fn) => root.querySelectorAll(sel).forEach(fn);
  const clampQty = (n) => Math.min(MAX_QTY, Math.max(1, Math.floor(n)));

  // Anything another version or a hand edit left behind is dropped rather than trusted.
  function normalize(data) {
    const lines = [];
    const bySku = new Map();
    const raw = data && Array.isArray(data.lines) ? data.lines : [];
    raw.forEach((l) => {
      if (!l || typeof l.sku !== 'string' || !SKU.test(l.sku)) return;
      const qty = Number(l.qty);
      const price = Number(l.price_minor);
      if (!Number.isFinite(qty) || qty < 1 || !Number.isSafeInteger(price) || price < 0) return;
      if (typeof l.currency !== 'string' || !CURRENCY.test(l.currency)) return;
      const prev = bySku.get(l.sku);
      if (prev) { prev.qty = clampQty(prev.qty + qty); return; }
      // Only same-site paths: a stored javascript: URL must never become a link.
      const url = typeof l.url === 'string' && /^\/(?!\/)/.test(l.url) ? l.url : '';
      const line = { sku: l.sku, qty: clampQty(qty), title: String(l.title || l.sku), price_minor: price, currency: l.currency, url };
      bySku.set(l.sku, line);
      lines.push(line);
    });
    return { lines };
  }

  function read() {
    try {
      return normalize(JSON.parse(localStorage.getItem(KEY) || 'null'));
    } catch (e) { return { lines: [] }; }
  }

  function write(cart) {
    try {
      localStorage.setItem(KEY, JSON.stringify(cart));
      return true;
    } catch (e) { return false; }
  }

  function add(item, qty) {
    const cart = read();
    const n = clampQty(Number(qty) || 1);
    const line = cart.lines.find((l) => l.sku === item.sku);
    if (line) {
      line.qty = clampQty(line.qty + n);
      // The page just seen is the freshest title and price we know.
      Object.assign(line, { title: item.title, price_minor: item.price_minor, currency: item.currency, url: item.url });
    } else {
      cart.lines.push(Object.assign({}, item, { qty: n }));
    }
    const clean = normalize(cart);
    return write(clean) ? clean : null;
  }

  function update(sku, qty) {
    const cart = read();
    cart.lines = qty > 0
      ? cart.lines.map((l) => (l.sku === sku ? Object.assign(l, { qty: clampQty(qty) }) : l))
      : cart.lines.filter((l) => l.sku !== sku);
    write(cart);
    return cart;
  }

  const count = (cart) => cart.lines.reduce((n, l) => n + l.qty, 0);

  const formats = new Map();
  function money(minor, currency) {
    let f = formats.get(currency);
    if (!f) {
      f = new Intl.NumberFormat('zh-CN', { style: 'currency', currency });
      formats.set(currency, f);
    }
    const digits = f.resolvedOptions().maximumFractionDigits;
    return f.format(minor / 10 ** digits);
  }

  // One subtotal per currency: a cart can hold products priced in different currencies.
  function subtotalText(cart) {
    const sums = new Map();
    cart.lines.forEach((l) => sums.set(l.currency, (sums.get(l.currency) || 0) + l.price_minor * l.qty));
    return Array.from(sums, ([cur, minor]) => money(minor, cur)).join(' + ');
  }

  const say = (text) => each(document, '[data-cart-status]', (el) => { el.textContent = text; });

  function renderBadge(cart) {
    const n = count(cart);
    each(document, '[data-cart-count]', (el) => {
      el.textContent = n > MAX_QTY ? '99+' : String(n);
      el.hidden = n === 0;
    });
    each(document, '[data-cart-link]', (a) => {
      a.setAttribute('aria-label', n ? `购物车,${n} 件商品` : '购物车,空');
    });
  }

  function showFilled(root, filled) {
    each(root, '[data-cart-empty]', (el) => { el.hidden = filled; });
    each(root, '[data-cart-filled]', (el) => { el.hidden = !filled; });
  }
  function fill(root, cart) {
    each(root, '[data-cart-subtotal]', (el) => { el.textContent = subtotalText(cart); });
    each(root, '[data-cart-count-text]', (el) => { el.textContent = String(count(cart)); });
  }

  // Lines are updated in place (keyed by sku) so focus stays on the stepper being used.
  function renderCartPage(cart) {
    const root = document.querySelector('[data-cart-page]');
    const list = root && root.querySelector('[data-cart-lines]');
    const tpl = document.getElementById('cart-line-template');
    if (!list || !tpl) return;
    showFilled(root, cart.lines.length > 0);
    const existing = new Map(Array.from(list.children, (li) => [li.dataset.sku, li]));
    cart.lines.forEach((line) => {
      let li = existing.get(line.sku);
      existing.delete(line.sku);
      if (!li) {
        li = tpl.content.firstElementChild.cloneNode(true);
        li.dataset.sku = line.sku;
      }
      list.appendChild(li);
      const field = (name) => li.querySelector(`[data-field="${name}"]`);
      const title = field('title');
      title.textContent = line.title;
      if (line.url) title.setAttribute('href', line.url);
      else title.removeAttribute('href');
      field('sku').textContent = line.sku;
      field('unit').textContent = money(line.price_minor, line.currency);
      field('total').textContent = money(line.price_minor * line.qty, line.currency);
      const qty = field('qty');
      if (document.activeElement !== qty) qty.value = String(line.qty);
      qty.setAttribute('aria-label', `数量:${line.title}`);
      field('stepper').setAttribute('aria-label', `${line.title} 的数量`);
      const act = (name, label, disabled) => {
        const b = li.querySelector(`[data-action="${name}"]`);
        b.setAttribute('aria-label', label);
        b.disabled = disabled;
      };
      act('dec', `减少 ${line.title} 的数量`, line.qty <= 1);
      act('inc', `增加 ${line.title} 的数量`, line.qty >= MAX_QTY);
      act('remove', `删除 ${line.title}`, false);
    });
    existing.forEach((li) => li.remove());
    fill(root, cart);
  }

  function renderSummary(cart) {
    const root = document.querySelector('[data-checkout]');
    const list = root && root.querySelector('[data-summary-lines]');
    if (!list) return;
    showFilled(root, cart.lines.length > 0);
    list.textContent = '';
    cart.lines.forEach((line) => {
      const li = list.appendChild(document.createElement('li'));
      [`${line.title} × ${line.qty}`, money(line.price_minor * line.qty, line.currency)].forEach((text) => {
        li.appendChild(document.createElement('span')).textContent = text;
      });
    });
    fill(root, cart);
  }

  function render(cart) {
    renderBadge(cart);
    renderCartPage(cart);
    renderSummary(cart);
  }

  function addFromButton(button) {
    const d = button.dataset;
    const form = button.closest('form');
    const qtyInput = form && form.querySelector('[data-qty]');
    const qty = qtyInput ? Number(qtyInput.value) : 1;
    if (!Number.isFinite(qty) || qty < 1) {
      say('请输入 1 到 99 之间的数量。');
      if (qtyInput) qtyInput.focus();
      return;
    }
    const item = { sku: d.sku, title: d.title, price_minor: Number(d.priceMinor), currency: d.currency, url: d.url };
    const cart = add(item, qty);
    if (!cart) return say('无法保存购物车:浏览器禁用了本地存储。');
    if (qtyInput) qtyInput.value = '1';
    render(cart);
    const line = cart.lines.find((l) => l.sku === item.sku);
    say(line ? `已加入购物车:${item.title}(购物车中共 ${line.qty} 件)` : '无法加入购物车,请刷新页面后重试。');
  }

  function bind() {
    document.addEventListener('submit', (e) => {
      const button = e.target.querySelector('[data-add-to-cart]');
      if (!button) return;
      e.preventDefault();
      if (!button.disabled) addFromButton(button);
    });
    document.addEventListener('click', (e) => {
      const button = e.target.closest('[data-add-to-cart]');
      if (button && !button.closest('form') && !button.disabled) addFromButton(button);
      const action = e.target.closest('[data-cart-lines] [data-action]');
      if (!action) return;
      const li = action.closest('li');
      const sku = li.dataset.sku;
      const line = read().lines.find((l) => l.sku === sku);
      if (!line) return;
      const kind = action.dataset.action;
      if (kind === 'remove') {
        const next = li.nextElementSibling || li.previousElementSibling;
        render(update(sku, 0));
        say(`已删除:${line.title}`);
        const target = next && next.isConnected ? next.querySelector('[data-action="remove"]') : document.querySelector('main h1');
        if (target) target.focus();
      } else {
        const qty = clampQty(line.qty + (kind === 'inc' ? 1 : -1));
        render(update(sku, qty));
        say(`${line.title} 数量:${qty}`);
      }
    });
    document.addEventListener('change', (e) => {
      const input = e.target.closest('[data-cart-lines] [data-field="qty"]');
      if (!input) return;
      const sku = input.closest('li').dataset.sku;
      const n = Number(input.value);
      const qty = Number.isFinite(n) && n >= 1 ? clampQty(n) : 1;
      input.value = String(qty);
      render(update(sku, qty));
    });
    // Other tabs change the cart too; keep the badge and the cart page in step with them.
    window.addEventListener('storage', (e) => {
      if (e.key === KEY || e.key === null) render(read());
    });
    window.addEventListener('pageshow', (e) => { if (e.persisted) render(read()); });
  }

  window.storefrontCart = { read, add, update, count, money, KEY, save: (c) => write(normalize(c)) && render(read()) };
  const start = () => { bind(); render(read()); };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
