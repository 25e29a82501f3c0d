import { useMemo } from 'react';
import type { EpochRecord } from '../../worker/studio-protocol';
import { LineChart } from '../components/LineChart';

const COLORS: Record<string, string> = { aesthetic: '#d9480f', clip: '#1c7ed6', hps: '#2b8a3e', loss: '#495057', penalty: '#ae3ec9' };

/** Reward curves per reward, plus loss and penalty, over epochs. */
export function RunCharts({ records }: { records: EpochRecord[] }) {
  const x = useMemo(() => records.map((_, i) => i), [records]);
  const rewardIds = useMemo(() => [...new Set(records.flatMap((r) => Object.keys(r.rewards)))], [records]);
  const rewards = useMemo(() => rewardIds.map((id) => ({ label: id, color: COLORS[id] ?? '#000', values: records.map((r) => r.rewards[id] ?? NaN) })), [records, rewardIds]);
  const loss = useMemo(() => [
    { label: 'loss', color: COLORS.loss!, values: records.map((r) => r.loss) },
  ], [records]);
  const penalty = useMemo(() => [{ label: 'penalty', color: COLORS.penalty!, values: records.map((r) => r.penalty) }], [records]);
  return (
    <div className="charts">
      <LineChart title="Rewards" x={x} series={rewards} testId="chart-rewards" />
      <LineChart title="Loss" x={x} series={loss} testId="chart-loss" />
      <LineChart title="Conformity penalty" x={x} series={penalty} testId="chart-penalty" />
    </div>
  );
}

/** Every epoch's numbers. */
export function EpochTable({ records }: { records: EpochRecord[] }) {
  const ids = [...new Set(records.flatMap((r) => Object.keys(r.rewards)))];
  return (
    <div className="table-wrap">
      <table className="epochs" data-testid="epoch-table">
        <thead>
          <tr><th>epoch</th>{records.some((r) => r.prompt) && <th>prompt</th>}{ids.map((id) => <th key={id}>{id}</th>)}<th>penalty</th><th>loss</th><th>lr</th><th>‖g‖</th><th>ms</th><th /></tr>
        </thead>
        <tbody>
          {records.map((r, i) => (
            <tr key={i} data-loss={r.loss} data-reward={r.weightedReward} data-ms={r.ms}>
              <td>{r.epoch}</td>
              {records.some((x) => x.prompt) && <td>{r.prompt}</td>}
              {ids.map((id) => <td key={id}>{r.rewards[id]?.toFixed(4)}</td>)}
              <td>{r.penalty.toFixed(4)}</td><td>{r.loss.toFixed(4)}</td><td>{r.lr.toExponential(2)}</td>
              <td>{Number.isFinite(r.gradNorm) ? r.gradNorm.toExponential(2) : '—'}</td><td>{Math.round(r.ms)}</td>
              <td>{r.skippedReason ? <span title={r.skippedReason}>skipped</span> : ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
