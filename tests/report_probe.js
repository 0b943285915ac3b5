// Injected into a copy of the Snakemake report by tests/test_report_html.py: decodes every
// embedded PNG in the browser, then clicks a category and a result entry (PROBE_TARGET:
// [category, subcategory or null, file name]) and reports the image the report shows.
window.addEventListener("load", () => setTimeout(async () => {
  const out = {categories: [], decoded: {}, shown: null, errors: []};
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  const byText = t => [...document.querySelectorAll("body *")].filter(
    e => e.textContent.trim() === t && ![...e.children].some(c => c.textContent.trim() === t));
  try {
    out.categories = Object.keys(categories);
    out.menu = out.categories.filter(c => byText(c).length > 0);
    for (const [path, r] of Object.entries(results)) {
      if (r.mime_type !== "image/png") continue;
      out.decoded[path] = await new Promise(res => {
        const im = new Image();
        im.onload = () => res([im.naturalWidth, im.naturalHeight]);
        im.onerror = () => res(null);
        im.src = r.data_uri;
      });
    }
    const target = PROBE_TARGET;
    const [cat, sub, name] = target;
    byText(cat)[0].click(); await sleep(300);
    if (sub) { const s = byText(sub); if (s.length) { s[0].click(); await sleep(300); } }
    const row = [...document.querySelectorAll("tr")].find(tr => tr.textContent.includes(name));
    if (!row) throw new Error("no result row " + name);
    row.querySelector("a").click(); await sleep(500);
    const img = [...document.querySelectorAll("img")].find(i => i.src.startsWith("data:image/png"));
    if (img && !img.complete) await new Promise(r => { img.onload = r; img.onerror = r; });
    out.shown = img ? {complete: img.complete, width: img.naturalWidth, height: img.naturalHeight,
                       src_of: Object.keys(results).find(p => results[p].data_uri === img.src)} : null;
  } catch (e) { out.errors.push(String(e)); }
  const pre = document.createElement("pre");
  pre.id = "eevflow-probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}, 300));
