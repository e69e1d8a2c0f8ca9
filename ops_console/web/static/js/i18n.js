// Korean and English labels from one file (/static/i18n.json).
let table = {};
let lang = localStorage.getItem("cityhub.lang") || (navigator.language.startsWith("ko") ? "ko" : "en");

export async function loadTranslations() {
  table = await (await fetch("/static/i18n.json")).json();
}

export function language() { return lang; }

export function setLanguage(next) {
  lang = next;
  localStorage.setItem("cityhub.lang", next);
  document.documentElement.lang = next;
  applyTo(document);
}

export function t(key, vars = {}) {
  const text = (table[lang] && table[lang][key]) || (table.en && table.en[key]) || key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

export function applyTo(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
}
