/* My orders (/account/orders/) and the payment return page (/checkout/return/?order=...).
   The return page waits for the provider's notification: it polls /api/orders/<number> until the
   order is no longer pending_payment (a return from the cashier is never taken as payment). */
(() => {
  'use strict';
  const { call } = window.storefrontApi;  // api.js, loaded just before
  const STATUS = {
    pending_payment: '待付款', awaiting_confirmation: '等待确认转账', paid: '已付款', on_hold: '待客服确认',
    shipped: '已发货', completed: '已完成', cancelled: '已取消', expired: '已过期', refunded: '已退款',
  };
  const $ = (sel, root) => (root || document).querySelector(sel);

  const money = (minor, currency) => (window.storefrontCart ? window.storefrontCart.money(minor, currency) : `${minor} ${currency}`);
  const orderParam = () => new URLSearchParams(window.location.search).get('order');
  const errorText = (r) => String((r.data.error && r.data.error.message) || '出错了,请稍后再试。').split('。')[0] + '。';

  // --- the payment return page

  async function waitForPayment(root) {
    const number = orderParam();
    const status = $('[data-pay-status]', root);
    if (!number) { status.textContent = '没有订单号。请在"我的订单"中查看。'; return; }
    $('[data-pay-order-link]', root).href = `/account/orders/?order=${encodeURIComponent(number)}`;
    const started = Date.now();
    for (;;) {
      const r = await call('GET', `/orders/${encodeURIComponent(number)}`);
      if (r.ok && r.data.status !== 'pending_payment') {
        const s = r.data.status;
        status.className = 'notice ' + (s === 'paid' ? 'notice-success' : 'notice-warning');
        status.textContent = s === 'paid' ? `付款成功!订单 ${number} 将尽快发货。`
          : s === 'on_hold' ? `已收到付款,订单 ${number} 需要客服确认后发货,客服会与您联系。`
            : `订单 ${number} 当前状态:${STATUS[s] || s}。`;
        return;
      }
      if (r.status === 401) { status.textContent = '请先登录后查看订单。'; return; }
      if (Date.now() - started > 120000) {
        status.textContent = '尚未收到支付机构的付款通知。如果您已付款,请稍后在"我的订单"中查看,款项不会丢失。';
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }

  // --- my orders

  function say(root, message, kind) {
    const box = $('[data-orders-message]', root);
    box.textContent = message;
    box.className = 'notice' + (kind ? ` notice-${kind}` : '');
    box.hidden = !message;
  }

  async function renderList(root) {
    const r = await call('GET', '/orders');
    if (r.status === 401) { $('[data-logged-out]', root).hidden = false; return; }
    if (!r.ok) return say(root, errorText(r), 'error');
    const list = $('[data-order-list]', root);
    list.textContent = '';
    if (!r.data.orders.length) say(root, '还没有订单。', 'info');
    r.data.orders.forEach((o) => {
      const li = list.appendChild(document.createElement('li'));
      const a = li.appendChild(document.createElement('a'));
      a.href = `/account/orders/?order=${encodeURIComponent(o.number)}`;
      a.textContent = o.number;
      li.appendChild(document.createTextNode(` ${STATUS[o.status] || o.status} · ${money(o.total_minor, o.currency)} · ${o.created_at.slice(0, 10)}`));
    });
  }

  async function renderDetail(root, number) {
    const box = $('[data-order-detail]', root);
    const r = await call('GET', `/orders/${encodeURIComponent(number)}`);
    if (r.status === 401) { $('[data-logged-out]', root).hidden = false; return; }
    if (!r.ok) return say(root, errorText(r), 'error');
    const o = r.data;
    box.hidden = false;
    $('[data-detail-number]', box).textContent = `订单 ${o.number}`;
    $('[data-detail-status]', box).textContent = STATUS[o.status] || o.status;
    const lines = $('[data-detail-lines]', box);
    lines.textContent = '';
    o.lines.forEach((l) => { lines.appendChild(document.createElement('li')).textContent = `${l.title} × ${l.qty}:${money(l.line_total_minor, o.currency)}`; });
    $('[data-detail-totals]', box).textContent = `小计 ${money(o.subtotal_minor, o.currency)},优惠 ${money(o.discount_minor, o.currency)},余额 ${money(o.credit_minor, o.currency)},应付 ${money(o.total_minor, o.currency)}`
      + (o.tracking_number ? `;快递单号 ${o.tracking_number}` : '');
    const a = o.shipping_address;
    $('[data-detail-address]', box).textContent = a ? `收货地址:${[a.name, a.phone, a.province, a.city, a.line1, a.line2].filter(Boolean).join(' ')}` : '';
    const bank = $('[data-detail-bank]', box);
    bank.textContent = '';
    bank.hidden = !o.bank_instructions;
    if (o.bank_instructions) {
      const b = o.bank_instructions;
      [['收款户名', b.account_name], ['开户银行', b.bank_name], ['账号', b.account_number], ['金额', `${b.amount} ${b.currency}`], ['转账附言', b.reference]]
        .forEach(([k, v]) => { bank.appendChild(document.createElement('dt')).textContent = k; bank.appendChild(document.createElement('dd')).textContent = v; });
    }
    $('[data-transfer-form]', box).hidden = o.status !== 'awaiting_confirmation';
    $('[data-action="cancel"]', box).hidden = !o.can_cancel;
    const pay = $('[data-detail-pay]', box);
    pay.hidden = !o.can_pay;
    if (o.can_pay) {
      const names = JSON.parse(root.dataset.methodNames || '{}');
      const methods = $('[data-detail-methods]', pay);
      methods.textContent = '';
      (root.dataset.methods || '').split(',').filter(Boolean).forEach((m, i) => {
        const label = methods.appendChild(document.createElement('label'));
        const input = label.appendChild(document.createElement('input'));
        Object.assign(input, { type: 'radio', name: 'method', value: m, checked: i === 0 });
        label.appendChild(document.createTextNode(' ' + (names[m] || m)));
      });
    }
  }

  function bindDetail(root, number) {
    root.addEventListener('click', async (e) => {
      const button = e.target.closest('[data-action]');
      if (!button) return;
      button.disabled = true;
      try {
        if (button.dataset.action === 'cancel') {
          const r = await call('POST', `/orders/${encodeURIComponent(number)}/cancel`, {});
          say(root, r.ok ? '订单已取消。' : errorText(r), r.ok ? 'success' : 'error');
        } else if (button.dataset.action === 'pay') {
          const chosen = root.querySelector('[data-detail-methods] input:checked');
          const client = window.matchMedia('(max-width: 700px)').matches ? 'mobile' : 'pc';
          const r = await call('POST', `/orders/${encodeURIComponent(number)}/payments`, { method: chosen && chosen.value, client });
          if (r.ok && r.data.redirect_url) { window.location.assign(r.data.redirect_url); return; }
          if (r.ok && r.data.qr_svg) $('[data-detail-pay] [data-qr-image]', root).innerHTML = r.data.qr_svg; // our own SVG
          say(root, r.ok ? (r.data.qr_svg ? '请用微信扫码付款。' : '请按转账信息付款。') : errorText(r), r.ok ? 'info' : 'error');
        }
        await renderDetail(root, number);
      } finally {
        button.disabled = false;
      }
    });
    $('[data-transfer-form]', root).addEventListener('submit', async (e) => {
      e.preventDefault();
      const r = await call('POST', `/orders/${encodeURIComponent(number)}/transfer-reference`, { reference: e.target.elements.reference.value });
      say(root, r.ok ? '已提交流水号,客服核对后确认订单。' : errorText(r), r.ok ? 'success' : 'error');
    });
  }

  function start() {
    const back = $('[data-pay-return]');
    if (back) return waitForPayment(back);
    const root = $('[data-orders-page]');
    if (!root) return;
    const number = orderParam();
    if (number) { bindDetail(root, number); renderDetail(root, number); } else renderList(root);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
