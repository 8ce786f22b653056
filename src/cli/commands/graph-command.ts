import type { Command } from "commander";
import type { FlowGraph } from "../../core/graph.ts";
import { loadFlowFile, pickFlow } from "../../engine/flow-loader.ts";
import type { CliContext } from "../context.ts";
import { CliError, EXIT } from "../output.ts";

const FORMATS = ["mermaid", "dot"] as const;

/** `weft graph <file>`: prints a flow's graph as Mermaid or Graphviz. */
export function registerGraphCommand(program: Command, cli: CliContext): void {
  program
    .command("graph")
    .summary("print a flow's graph (mermaid or dot)")
    .description(
      "Print the graph of a flow: its tasks and the edges between them, as Mermaid (default) or Graphviz dot.",
    )
    .argument("<file>", "a .ts or .js file that exports flows")
    .option("-f, --flow <name>", "which flow, when the file exports several")
    .option("--format <format>", `${FORMATS.join(" | ")}`, "mermaid")
    .addHelpText(
      "after",
      "\nExamples:\n  weft graph examples/etl.ts\n  weft graph examples/etl.ts --format dot | dot -Tsvg > etl.svg\n",
    )
    .action(async (file: string, flags: { flow?: string; format: string }) => {
      if (!(FORMATS as readonly string[]).includes(flags.format)) {
        throw new CliError(
          `unknown --format ${JSON.stringify(flags.format)} (known: ${FORMATS.join(", ")})`,
          EXIT.usage,
        );
      }
      const flow = pickFlow(await loadFlowFile(file), flags.flow, file);
      const graph = flow.graph;
      cli.stdout.write(flags.format === "dot" ? toDot(graph) : toMermaid(graph));
    });
}

function mermaidId(slug: string): string {
  return `n_${slug.replace(/[^A-Za-z0-9_]/g, "_")}`;
}

/** The graph as a Mermaid flowchart: mapped nodes are stadium-shaped, parameters are parallelograms. */
export function toMermaid(graph: FlowGraph<unknown>): string {
  const lines = ["flowchart TD"];
  for (const node of graph.nodes) {
    const id = mermaidId(node.slug);
    const text = JSON.stringify(node.slug);
    if (node.task.kind === "parameter") lines.push(`  ${id}[/${text}/]`);
    else if (node.mapped) lines.push(`  ${id}([${text.slice(0, -1)} ⋯map"])`);
    else lines.push(`  ${id}[${text}]`);
  }
  for (const e of graph.edges()) {
    const arrow = e.key === "after" ? "-.->" : e.mapped ? "==>" : "-->";
    lines.push(`  ${mermaidId(e.upstream)} ${arrow} ${mermaidId(e.downstream)}`);
  }
  return `${lines.join("\n")}\n`;
}

/** The graph in Graphviz dot: dashed edges order only, bold edges are mapped. */
export function toDot(graph: FlowGraph<unknown>): string {
  const lines = [`digraph ${JSON.stringify(graph.flowName)} {`, "  rankdir=TB;"];
  for (const node of graph.nodes) {
    const shape = node.task.kind === "parameter" ? "parallelogram" : node.mapped ? "box3d" : "box";
    lines.push(`  ${JSON.stringify(node.slug)} [shape=${shape}];`);
  }
  for (const e of graph.edges()) {
    const style = e.key === "after" ? " [style=dashed]" : e.mapped ? " [style=bold]" : "";
    lines.push(`  ${JSON.stringify(e.upstream)} -> ${JSON.stringify(e.downstream)}${style};`);
  }
  lines.push("}");
  return `${lines.join("\n")}\n`;
}
