// Prints a bench result (bench/results/*.json) as a Markdown table, for the README's Performance
// section: every figure with its ceiling, the ratio to it and the target, as the bench printed them.
//   node scripts/bench/table.mjs bench/results/2026-…json
import { readFileSync } from 'node:fs';
import { fmt } from './util.mjs';

const file = process.argv[2];
if (!file) {
  console.error('usage: node scripts/bench/table.mjs RESULT.json');
  process.exit(2);
}
const { figures } = JSON.parse(readFileSync(file, 'utf8'));

const targetText = (t) => (t ? `${t.on === 'ratio' ? 'ratio ' : ''}${t.cmp} ${t.value}: **${t.met ? 'met' : 'missed'}**` : '');
const rows = Object.values(figures).map((f) => {
  const ceiling = f.ceiling ? figures[f.ceiling] : undefined;
  return [
    f.label,
    fmt(f.value, f.unit),
    ceiling ? fmt(ceiling.value, ceiling.unit) : '',
    f.ratio === undefined ? '' : `${f.ratio.toFixed(2)}×`,
    targetText(f.target),
  ];
});
console.log('| figure | value | ceiling | ratio | target |');
console.log('|---|---|---|---|---|');
for (const row of rows) console.log(`| ${row.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`);
