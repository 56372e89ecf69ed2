/* Checkout (/checkout/): once logged in, the address book from /api/me, coupon, store credit and
   the payment method; places the order (the service prices it: the cart's prices are display only),
   then starts paying: follows redirect_url, shows the WeChat QR code or the bank instructions.
   On arrival and again before placing, the cart (localStorage, cart.js) is revalidated against
   /api/stock: changed prices, short stock and withdrawn items are taken over with a clear notice. */
(() => {
  'use strict';
  const { call } = window.storefrontApi;  // api.js, loaded just before
  const MESSAGES = {
    out_of_stock: '部分商品库存不足,请修改购物车后重试。',
    unknown_sku: '购物车中有已下架的商品,请删除后重试。',
    coupon_invalid: '优惠码不可用。',
    consent_required: '隐私政策已更新,请先在"我的账户"中阅读并同意。',
    guardian_consent_required: '需要监护人同意后才能下单。',
    unauthorized: '请先登录。',
    network: '网络连接失败,请检查网络后重试。',
  };
  const $ = (sel, root) => (root || document).querySelector(sel);


  const text = (err) => (err && (MESSAGES[err.code] || String(err.message || '').split('。')[0] + '。')) || '服务器出错,请稍后再试。';

  function say(message, kind) {
    const box = $('[data-checkout-message]');
    box.textContent = message;
    box.className = 'notice' + (kind ? ` notice-${kind}` : '');
    box.hidden = !message;
  }

  // Today's prices and live stock for the cart: cart-check.js, shared with the cart page.
  const revalidate = () => window.storefrontCartCheck();

  function addressLabel(a) {
    return [a.name, a.phone, a.province, a.city, a.line1, a.line2].filter(Boolean).join(' ');
  }

  function renderAddresses(form, addresses) {
    const box = $('[data-saved-addresses]', form);
    box.textContent = '';
    addresses.forEach((a, i) => {
      const label = box.appendChild(document.createElement('label'));
      const input = label.appendChild(document.createElement('input'));
      Object.assign(input, { type: 'radio', name: 'address', value: String(i), checked: i === 0 });
      label.appendChild(document.createTextNode(' ' + addressLabel(a)));
    });
    $('[data-new-address-choice]', form).checked = addresses.length === 0;
    const toggle = () => {
      $('[data-new-address]', form).hidden = form.elements.address.value !== 'new';
    };
    form.addEventListener('change', toggle);
    toggle();
  }

  function chosenAddress(form, addresses) {
    const choice = form.elements.address.value;
    if (choice !== 'new') return addresses[Number(choice)];
    const a = {};
    ['name', 'phone', 'country', 'province', 'city', 'line1', 'line2', 'postal_code'].forEach((k) => {
      const v = form.elements[k].value.trim();
      if (v) a[k] = k === 'country' ? v.toUpperCase() : v;
    });
    return a;
  }

  function showPayment(order, start) {
    const box = $('[data-payment-result]');
    box.hidden = false;
    $('[data-order-number]', box).textContent = `订单号 ${order.number},应付 ${window.storefrontCart.money(order.total_minor, order.currency)}`;
    $('[data-order-link]', box).href = `/account/orders/?order=${encodeURIComponent(order.number)}`;
    if (start && start.qr_svg) {
      $('[data-qr]', box).hidden = false;
      // The SVG comes from our own service (segno), not from the shopper.
      $('[data-qr-image]', box).innerHTML = start.qr_svg;
    }
    if (start && start.bank_instructions) {
      const b = start.bank_instructions;
      const dl = $('[data-bank]', box);
      dl.hidden = false;
      [['收款户名', b.account_name], ['开户银行', b.bank_name], ['账号', b.account_number], ['SWIFT', b.swift],
        ['金额', `${b.amount} ${b.currency}`], ['转账附言(必填)', b.reference], ['保留时间', `${b.reservation_hours} 小时`]]
        .filter(([, v]) => v).forEach(([k, v]) => {
          dl.appendChild(document.createElement('dt')).textContent = k;
          dl.appendChild(document.createElement('dd')).textContent = v;
        });
    }
  }

  // The QR code is paid on another device: wait here for the provider's notification (as the
  // return page does), so the page says so once the order is paid.
  async function watchQrPayment(order) {
    const started = Date.now();
    const path = `/orders/${encodeURIComponent(order.number)}`;
    while (Date.now() - started < 15 * 60 * 1000) {
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const r = await call('GET', path);
      if (r.status === 401) return;
      if (r.ok && r.data.status !== 'pending_payment') {
        $('[data-qr]').hidden = true;
        return say(r.data.status === 'paid' ? `付款成功!订单 ${order.number} 将尽快发货。`
          : `订单 ${order.number} 当前状态已更新,请在"我的订单"中查看。`, r.data.status === 'paid' ? 'success' : 'warning');
      }
    }
    say('尚未收到付款通知。如果您已付款,请稍后在"我的订单"中查看。', 'warning');
  }

  async function place(form, addresses, button) {
    const cart = window.storefrontCart;
    if (!cart.read().lines.length) return say('购物车是空的。', 'warning');
    button.disabled = true;
    try {
      const check = await revalidate();
      if (check.changed) {
        say('购物车有变化(见上方说明),请确认后再次提交。', 'warning');
        return;
      }
      const body = {
        lines: cart.read().lines.map((l) => ({ sku: l.sku, qty: l.qty })),
        shipping_address: chosenAddress(form, addresses),
      };
      const coupon = form.elements.coupon.value.trim();
      if (coupon) body.coupon = coupon;
      if (form.elements.use_credit && form.elements.use_credit.checked) body.use_credit = true;
      const placed = await call('POST', '/orders', body);
      if (!placed.ok) {
        const err = placed.data.error || {};
        const field = err.field && err.field.startsWith('shipping_address') ? 'shipping_address' : err.field;
        const slot = field && $(`[data-field-error="${field}"]`, form);
        if (slot) { slot.textContent = text(err); slot.hidden = false; }
        return say(text(err), 'error');
      }
      const order = placed.data;
      cart.save({ lines: [] });
      if (order.status === 'paid') {
        say(`订单 ${order.number} 已用余额/优惠付清。`, 'success');
        return showPayment(order, null);
      }
      const client = window.matchMedia('(max-width: 700px)').matches ? 'mobile' : 'pc';
      const started = await call('POST', `/orders/${encodeURIComponent(order.number)}/payments`,
        { method: form.elements.method.value, client });
      if (!started.ok) {
        say(`订单 ${order.number} 已提交,但无法开始付款:${text(started.data.error)} 可以在"我的订单"中重新付款。`, 'warning');
        return showPayment(order, null);
      }
      if (started.data.redirect_url) {
        window.location.assign(started.data.redirect_url);
        return;
      }
      form.hidden = true;
      say(started.data.bank_instructions ? '请按以下信息转账,客服核对到账后确认订单。' : '请扫码付款,付款后订单状态会自动更新。', 'info');
      showPayment(order, started.data);
      if (started.data.qr_svg) watchQrPayment(order);
    } finally {
      button.disabled = false;
    }
  }

  async function start() {
    const form = $('[data-checkout-form]');
    if (!form) return;
    revalidate();
    const me = await call('GET', '/me');
    if (!me.ok) return; // not logged in (or the service is down): the login notice stays
    $('[data-checkout-login]').hidden = true;
    form.hidden = false;
    const addresses = Array.isArray(me.data.addresses) ? me.data.addresses : [];
    renderAddresses(form, addresses);
    const credit = await call('GET', '/me/credit');
    if (credit.ok && credit.data.balance_minor > 0) {
      $('[data-credit]', form).hidden = false;
      $('[data-credit-balance]', form).textContent = window.storefrontCart.money(credit.data.balance_minor, credit.data.currency);
    }
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      form.querySelectorAll('[data-field-error]').forEach((p) => { p.hidden = true; });
      place(form, addresses, $('[data-place-order]', form));
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
