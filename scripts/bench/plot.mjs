// An SVG of each figure against its ceiling (no dependencies). Two panels:
//  - throughput (MB/s, files/s): the measured bar over a pale bar for the ceiling, log scale;
//  - times and latencies: the same, where shorter is better (ms, s), log scale.
// Each row is labelled with the ratio measured/ceiling as a fraction of the ceiling's speed.

const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

function niceTicks(min, max) {
  const ticks = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) ticks.push(10 ** e);
  return ticks;
}

function panel(rows, { title, x0, y0, width, labelWidth }) {
  const rowH = 26;
  const plotW = width - labelWidth - 90;
  const values = rows.flatMap((r) => [r.value, r.ceilingValue]).filter((v) => v > 0 && Number.isFinite(v));
  const ticks = niceTicks(Math.min(...values), Math.max(...values));
  const lo = Math.log10(ticks[0]);
  const hi = Math.log10(ticks[ticks.length - 1]);
  const xOf = (v) => x0 + labelWidth + ((Math.log10(Math.max(v, ticks[0])) - lo) / (hi - lo || 1)) * plotW;
  const out = [];
  out.push(`<text x="${x0}" y="${y0 + 14}" font-size="14" font-weight="bold">${esc(title)}</text>`);
  const top = y0 + 28;
  const bottom = top + rows.length * rowH;
  for (const t of ticks) {
    const x = xOf(t);
    out.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${bottom}" stroke="#ddd"/>`);
    out.push(`<text x="${x}" y="${bottom + 14}" font-size="10" text-anchor="middle" fill="#555">${t >= 1 ? t : t.toPrecision(1)}</text>`);
  }
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    out.push(`<text x="${x0 + labelWidth - 6}" y="${y + 16}" font-size="11" text-anchor="end">${esc(r.label)} (${esc(r.unit)})</text>`);
    const base = x0 + labelWidth;
    if (Number.isFinite(r.ceilingValue) && r.ceilingValue > 0) {
      out.push(`<rect x="${base}" y="${y + 3}" width="${Math.max(1, xOf(r.ceilingValue) - base)}" height="18" fill="#cfe0f3"><title>${esc(r.ceilingLabel)}: ${r.ceilingValue.toFixed(2)}</title></rect>`);
    }
    const good = r.good ?? (r.ratio === undefined || r.ratio >= 0.75);
    out.push(`<rect x="${base}" y="${y + 7}" width="${Math.max(1, xOf(r.value) - base)}" height="10" fill="${good ? '#2b7bba' : '#d9822b'}"><title>${r.value.toFixed(2)}</title></rect>`);
    const note = `${r.value >= 100 ? r.value.toFixed(0) : r.value.toPrecision(3)}${r.ratio !== undefined ? `  ×${r.ratio.toFixed(2)}` : ''}`;
    out.push(`<text x="${base + plotW + 6}" y="${y + 16}" font-size="11" fill="#333">${esc(note)}</text>`);
  });
  return { svg: out.join('\n'), height: bottom + 24 - y0 };
}

/**
 * figures: the bench's `figures` object; `peers` (optional): { title, rows: [{ label, unit,
 * better, value, peerValue, peerLabel, good }] }, a third panel of figures drawn against a peer's
 * (the latency profile: ours against rclone), orange where a target is missed. Returns the SVG text.
 */
export function plotSvg(figures, subtitle, peers) {
  const rows = Object.entries(figures)
    .filter(([, f]) => f.ceiling && figures[f.ceiling] && f.value > 0)
    .map(([, f]) => {
      // One axis per panel: times in seconds are drawn in milliseconds with the latencies.
      const scale = (unit) => (unit === 's' ? 1000 : 1);
      const c = figures[f.ceiling];
      return {
        label: f.label,
        unit: f.unit === 's' ? 'ms' : f.unit,
        value: f.value * scale(f.unit),
        ratio: f.ratio,
        better: f.better,
        ceilingValue: c.value * scale(c.unit),
        ceilingLabel: c.label,
      };
    });
  const up = rows.filter((r) => r.better === 'higher');
  const down = rows.filter((r) => r.better === 'lower');
  // About 6 px a character at font-size 11.
  const peerRows = (peers?.rows ?? [])
    .filter((r) => r.value > 0 && Number.isFinite(r.value))
    .map((r) => ({ ...r, ceilingValue: r.peerValue, ceilingLabel: r.peerLabel, ratio: r.peerValue > 0 ? (r.better === 'higher' ? r.value / r.peerValue : r.peerValue / r.value) : undefined }));
  const labelWidth = Math.min(560, Math.max(200, ...[...rows, ...peerRows].map((r) => (r.label.length + r.unit.length + 3) * 6 + 12)));
  const width = labelWidth + 660;
  const parts = [];
  let y = 48;
  if (up.length) {
    const p = panel(up, { title: 'Throughput against its ceiling (longer is better; pale bar = ceiling; log scale)', x0: 10, y0: y, width, labelWidth });
    parts.push(p.svg);
    y += p.height + 16;
  }
  if (down.length) {
    const p = panel(down, { title: 'Times and latencies against their floor, in ms (shorter is better; pale bar = floor; log scale)', x0: 10, y0: y, width, labelWidth });
    parts.push(p.svg);
    y += p.height + 16;
  }
  if (peerRows.length) {
    const p = panel(peerRows, { title: peers.title, x0: 10, y0: y, width, labelWidth });
    parts.push(p.svg);
    y += p.height + 16;
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="16" font-weight="bold">ossencfs bench</text>`,
    `<text x="10" y="38" font-size="11" fill="#555">${esc(subtitle)}  —  ×ratio = fraction of the ceiling's speed; orange = below 0.75</text>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
