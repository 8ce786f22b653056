// An extract-transform-load flow: read the orders CSV shipped in examples/data,
// validate every row (rejected rows are reported, not fatal), aggregate the
// revenue of completed orders by region, product and month, and write a
// Markdown report.
//
//   node bin/weft.js run examples/etl.ts
//   node bin/weft.js run examples/etl.ts --param output=/tmp/orders.md
//
// Paths are resolved against the current directory (or used as they are when absolute).
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { context, flow, parameter, task } from "weftflow";

const STATUSES = ["completed", "refunded", "cancelled"] as const;
type Status = (typeof STATUSES)[number];

/** One valid order; money is kept in cents so that sums are exact. */
export interface Order {
  readonly orderId: string;
  readonly date: string;
  readonly month: string;
  readonly customer: string;
  readonly region: string;
  readonly product: string;
  readonly quantity: number;
  readonly unitPriceCents: number;
  readonly status: Status;
}

/** A row that failed validation, with its line in the file. */
export interface Rejected {
  readonly line: number;
  readonly reason: string;
}

/** Orders and revenue of one group (a region, a product or a month). */
export interface Group {
  readonly key: string;
  readonly orders: number;
  readonly units: number;
  readonly revenueCents: number;
}

interface Parsed {
  readonly rowsRead: number;
  readonly orders: Order[];
  readonly rejected: Rejected[];
}

const COLUMNS = [
  "order_id",
  "date",
  "customer",
  "region",
  "product",
  "quantity",
  "unit_price",
  "status",
];

/** Splits one CSV line into fields; quoted fields may hold commas and doubled quotes. */
function splitCsvLine(line: string): string[] {
  const fields: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      fields.push(field);
      field = "";
    } else field += ch;
  }
  fields.push(field);
  return fields.map((f) => f.trim());
}

/** A calendar date in YYYY-MM-DD form that exists (2024-02-30 does not). */
function isRealDate(text: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return false;
  const date = new Date(`${text}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(text);
}

/** Validates one row: an order, or the reason it is refused. */
function toOrder(fields: string[], seen: ReadonlySet<string>): Order | string {
  if (fields.length !== COLUMNS.length) {
    return `expected ${COLUMNS.length} fields, found ${fields.length}`;
  }
  const [orderId, date, customer, region, product, quantity, unitPrice, status] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if (!/^ORD-\d+$/.test(orderId)) return `order_id ${JSON.stringify(orderId)} is not ORD-<number>`;
  if (seen.has(orderId)) return `duplicate order_id ${orderId}`;
  if (!isRealDate(date)) return `date ${JSON.stringify(date)} is not a real YYYY-MM-DD date`;
  if (customer === "" || region === "" || product === "") {
    return "customer, region and product are required";
  }
  const qty = Number(quantity);
  if (!Number.isInteger(qty) || qty <= 0) {
    return `quantity ${JSON.stringify(quantity)} is not a positive whole number`;
  }
  const price = Number(unitPrice);
  if (!/^\d+(\.\d{1,2})?$/.test(unitPrice) || !(price > 0)) {
    return `unit_price ${JSON.stringify(unitPrice)} is not a positive amount`;
  }
  if (!(STATUSES as readonly string[]).includes(status)) {
    return `status ${JSON.stringify(status)} is not one of ${STATUSES.join(", ")}`;
  }
  return {
    orderId,
    date,
    month: date.slice(0, 7),
    customer,
    region,
    product,
    quantity: qty,
    unitPriceCents: Math.round(price * 100),
    status: status as Status,
  };
}

const readCsv = task("read-csv", async (path: string) => {
  const absolute = resolve(path);
  const text = await readFile(absolute, "utf8");
  context().logger.info(`read ${text.length.toLocaleString("en-US")} bytes from ${absolute}`);
  return text;
});

const parseOrders = task("parse-orders", (text: string): Parsed => {
  const { logger } = context();
  const lines = text.split(/\r?\n/);
  const header = splitCsvLine(lines[0] ?? "");
  if (header.join(",") !== COLUMNS.join(",")) {
    // Not a row problem: the whole file is the wrong one, so the task fails.
    throw new Error(
      `unexpected CSV header ${JSON.stringify(lines[0])}; expected ${COLUMNS.join(",")}`,
    );
  }
  const orders: Order[] = [];
  const rejected: Rejected[] = [];
  const seen = new Set<string>();
  let rowsRead = 0;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === "") continue;
    rowsRead++;
    const order = toOrder(splitCsvLine(line), seen);
    if (typeof order === "string") {
      rejected.push({ line: i + 1, reason: order });
      logger.warn(`line ${i + 1} rejected: ${order}`);
    } else {
      seen.add(order.orderId);
      orders.push(order);
    }
  }
  logger.info(`${orders.length} valid orders, ${rejected.length} rejected rows`);
  return { rowsRead, orders, rejected };
});

/** Sums completed orders by a key, largest revenue first (ties by key). */
function revenueBy(orders: readonly Order[], keyOf: (o: Order) => string): Group[] {
  const groups = new Map<string, { orders: number; units: number; revenueCents: number }>();
  for (const order of orders) {
    if (order.status !== "completed") continue;
    const key = keyOf(order);
    const g = groups.get(key) ?? { orders: 0, units: 0, revenueCents: 0 };
    g.orders++;
    g.units += order.quantity;
    g.revenueCents += order.quantity * order.unitPriceCents;
    groups.set(key, g);
  }
  return [...groups]
    .map(([key, g]) => ({ key, ...g }))
    .sort((a, b) => b.revenueCents - a.revenueCents || a.key.localeCompare(b.key));
}

const byRegion = task("revenue-by-region", (p: Parsed) => revenueBy(p.orders, (o) => o.region));
const byProduct = task("revenue-by-product", (p: Parsed) => revenueBy(p.orders, (o) => o.product));
const byMonth = task("revenue-by-month", (p: Parsed) =>
  // Months read best in calendar order, not by size.
  revenueBy(p.orders, (o) => o.month).sort((a, b) => a.key.localeCompare(b.key)),
);

const money = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });
const dollars = (cents: number) => money.format(cents / 100);

function groupTable(title: string, groups: readonly Group[]): string[] {
  return [
    `| ${title} | Orders | Units | Revenue |`,
    "| --- | ---: | ---: | ---: |",
    ...groups.map((g) => `| ${g.key} | ${g.orders} | ${g.units} | ${dollars(g.revenueCents)} |`),
  ];
}

const writeReport = task(
  "write-report",
  async (
    input: string,
    output: string,
    parsed: Parsed,
    regions: Group[],
    products: Group[],
    months: Group[],
  ) => {
    const count = (status: Status) => parsed.orders.filter((o) => o.status === status);
    const sum = (orders: readonly Order[]) =>
      orders.reduce((cents, o) => cents + o.quantity * o.unitPriceCents, 0);
    const completed = count("completed");
    const refunded = count("refunded");
    const cancelled = count("cancelled");
    const lines = [
      "# Orders report",
      "",
      `Source: \`${input}\`: ${parsed.rowsRead} rows read, ${parsed.orders.length} valid, ${parsed.rejected.length} rejected.`,
      "",
      "Revenue counts completed orders only; refunded and cancelled orders are listed for reference.",
      "",
      "## Summary",
      "",
      "| Status | Orders | Amount |",
      "| --- | ---: | ---: |",
      `| completed | ${completed.length} | ${dollars(sum(completed))} |`,
      `| refunded | ${refunded.length} | ${dollars(sum(refunded))} |`,
      `| cancelled | ${cancelled.length} | ${dollars(sum(cancelled))} |`,
      "",
      `**Total revenue: ${dollars(sum(completed))}**`,
      "",
      "## Revenue by region",
      "",
      ...groupTable("Region", regions),
      "",
      "## Revenue by product",
      "",
      ...groupTable("Product", products),
      "",
      "## Revenue by month",
      "",
      ...groupTable("Month", months),
      "",
      "## Rejected rows",
      "",
      ...(parsed.rejected.length === 0
        ? ["None."]
        : [
            "| Line | Reason |",
            "| ---: | --- |",
            ...parsed.rejected.map((r) => `| ${r.line} | ${r.reason} |`),
          ]),
      "",
    ];
    const absolute = resolve(output);
    await mkdir(dirname(absolute), { recursive: true });
    await writeFile(absolute, lines.join("\n"));
    context().logger.info(`wrote the report to ${absolute}`);
    return absolute;
  },
);

/** Orders CSV → validated orders → revenue by region, product and month → Markdown report. */
export const etl = flow(
  "etl",
  () => {
    const input = parameter("input", "examples/data/orders.csv", {
      description: "the orders CSV to read",
    });
    const output = parameter("output", "examples/out/etl-report.md", {
      description: "where to write the Markdown report",
    });
    const parsed = parseOrders(readCsv(input));
    const report = writeReport(
      input,
      output,
      parsed,
      byRegion(parsed),
      byProduct(parsed),
      byMonth(parsed),
    );
    return { parsed, report };
  },
  { description: "Revenue report of the orders CSV" },
);
