/* Starts ReDoc on /redoc/ (contacts/templates/contacts/redoc.html) under the page's
 * Content-Security-Policy, which allows no inline script and no image from another origin. */
"use strict";

(() => {
  /* ReDoc shows Redocly's logo, fetched from this CDN, beside "API docs by Redocly" in its menu,
   * with no option to leave it out (Redocly/redoc#2108). The docs load nothing from outside this
   * service and the policy would refuse the fetch, a violation on every visit: the logo's address
   * is emptied before the browser can fetch it, which fails the image as it fails offline, and
   * ReDoc then drops it. React sets an image's source both as an attribute and as a property. */
  const REDOCLY_CDN = "https://cdn.redoc.ly/";
  const local = (value) => (String(value).startsWith(REDOCLY_CDN) ? "" : value);

  const source = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
  Object.defineProperty(HTMLImageElement.prototype, "src", {
    ...source,
    set(value) {
      source.set.call(this, local(value));
    },
  });
  const setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    const isImageSource = this instanceof HTMLImageElement && name.toLowerCase() === "src";
    return setAttribute.call(this, name, isImageSource ? local(value) : value);
  };

  /* ReDoc's styles go into <style> elements that carry this script's nonce, which the page's
   * policy allows (bitespeed/urls.py). */
  const container = document.getElementById("redoc-container");
  const settings = JSON.parse(container.dataset.settings);
  Redoc.init(
    container.dataset.specUrl,
    { ...settings, nonce: document.currentScript.nonce },
    container,
  );
})();
