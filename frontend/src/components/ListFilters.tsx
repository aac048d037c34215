import type { ReactNode } from 'react';

/** The look of a filter's select or input. */
export const filterControl = 'rounded-md border border-slate-700 bg-slate-900 px-2 py-1.5 text-sm';

/** A filter bar that applies as the user changes it (it is never submitted): a form with role `search` named `label`. */
export function FilterForm({ label, children }: { label: string; children: ReactNode }) {
  return (
    <form className="flex flex-wrap items-end gap-2" role="search" aria-label={label} onSubmit={(e) => e.preventDefault()}>
      {children}
    </form>
  );
}

/** One filter of a `FilterForm`: `label` above its control, and the name of that control. */
export function FilterField({ label, children }: { label: string; children: ReactNode }) {
  return (
    <label className="flex flex-col gap-0.5 text-xs text-slate-400">
      {label}
      {children}
    </label>
  );
}

/** A filter choosing one of `options`, or "Any" (value ''); `optionLabel` words an option (default: its value). */
export function FilterSelect<V extends string>({ label, value, onChange, options, optionLabel }: { label: string; value: string; onChange: (value: string) => void; options: readonly V[]; optionLabel?: (option: V) => string }) {
  return (
    <FilterField label={label}>
      <select className={filterControl} value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">Any</option>
        {options.map((o) => (
          <option key={o} value={o}>
            {optionLabel ? optionLabel(o) : o}
          </option>
        ))}
      </select>
    </FilterField>
  );
}

/**
 * "From" and "To" filters: local date-times as typed in `datetime-local` inputs ('' when
 * empty); `localDateTimeToIso` (lib/format) turns them into instants for the server.
 */
export function TimeRangeFilter({ from, to, onFromChange, onToChange }: { from: string; to: string; onFromChange: (value: string) => void; onToChange: (value: string) => void }) {
  return (
    <>
      <FilterField label="From">
        <input type="datetime-local" className={filterControl} value={from} onChange={(e) => onFromChange(e.target.value)} />
      </FilterField>
      <FilterField label="To">
        <input type="datetime-local" className={filterControl} value={to} onChange={(e) => onToChange(e.target.value)} />
      </FilterField>
    </>
  );
}
