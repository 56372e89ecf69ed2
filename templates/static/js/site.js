/* Storefront demo theme: menus, current-page marking, the policy notice and the variant picker.
   Plain ES2017, loaded with defer; every feature is optional and the page works without it. */
(() => {
  'use strict';
  const NOTICE_KEY = 'storefront.notice.dismissed';

  // The nav is rendered once per build, so the current link can only be marked here.
  function markCurrentLinks() {
    const here = location.pathname;
    document.querySelectorAll('.site-nav a[href]').forEach((a) => {
      const path = a.getAttribute('href');
      if (path === here) a.setAttribute('aria-current', 'page');
      else if (path !== '/' && here.startsWith(path) && !a.closest('.menu-list')) a.setAttribute('aria-current', 'true');
    });
  }

  // <details> menus: close with Escape (focus back on the toggle), on a click elsewhere, and when
  // another menu opens, as a menu button would.
  function initMenus() {
    const menus = Array.from(document.querySelectorAll('details[data-menu]'));
    if (!menus.length) return;
    menus.forEach((menu) => {
      const summary = menu.querySelector('summary');
      summary.setAttribute('aria-expanded', String(menu.open));
      menu.addEventListener('toggle', () => {
        summary.setAttribute('aria-expanded', String(menu.open));
        if (menu.open) menus.forEach((m) => { if (m !== menu) m.open = false; });
      });
      menu.addEventListener('keydown', (e) => {
        if (e.key === 'Escape' && menu.open) {
          menu.open = false;
          summary.focus();
        }
      });
      menu.addEventListener('focusout', (e) => {
        if (menu.open && e.relatedTarget && !menu.contains(e.relatedTarget)) menu.open = false;
      });
    });
    document.addEventListener('click', (e) => {
      menus.forEach((m) => { if (m.open && !m.contains(e.target)) m.open = false; });
    });
  }

  function storageGet(key) {
    try { return localStorage.getItem(key); } catch (e) { return null; }
  }
  function storageSet(key, value) {
    try { localStorage.setItem(key, value); } catch (e) { /* private mode: dismiss for this page only */ }
  }

  // The major-policy banner: dismissed per version id, so a later major version shows again.
  function initNotice() {
    document.querySelectorAll('[data-notice]').forEach((box) => {
      const id = box.getAttribute('data-notice');
      if (storageGet(NOTICE_KEY) === id) { box.hidden = true; return; }
      const close = box.querySelector('[data-notice-close]');
      if (!close) return;
      close.addEventListener('click', () => {
        storageSet(NOTICE_KEY, id);
        box.hidden = true;
        const main = document.getElementById('main');
        if (main) main.focus();
      });
    });
  }

  // The variant <select>: its options carry price texts preformatted by the build, so the shown
  // price matches the server's formatting exactly; cart.js reads the button's data attributes.
  function initVariants() {
    document.querySelectorAll('[data-variant-select]').forEach((select) => {
      const scope = select.closest('[data-product]') || document;
      const button = scope.querySelector('[data-add-to-cart]');
      const update = () => {
        const opt = select.options[select.selectedIndex];
        if (!opt) return;
        const d = opt.dataset;
        const set = (sel, text) => {
          const el = scope.querySelector(sel);
          if (el) el.textContent = text;
        };
        const show = (sel, on) => {
          const el = scope.querySelector(sel);
          if (el) el.hidden = !on;
        };
        set('[data-price]', d.priceText || '');
        set('[data-compare-text]', d.compareText || '');
        set('[data-save]', d.saveText || '');
        show('[data-compare]', Boolean(d.compareText));
        show('[data-save]', Boolean(d.saveText));
        set('[data-sku-text]', opt.value);
        if (button) {
          button.dataset.sku = opt.value;
          button.dataset.title = d.title || button.dataset.title;
          button.dataset.priceMinor = d.priceMinor;
          button.disabled = opt.disabled;
        }
      };
      select.addEventListener('change', update);
      update();
    });
  }

  function init() {
    markCurrentLinks();
    initMenus();
    initNotice();
    initVariants();
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
