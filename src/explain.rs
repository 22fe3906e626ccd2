//! What the compiler made of an expression or kernel, for people: the
//! syntax tree, the typed IR, the fusion plan, the Cranelift IR and the
//! machine code as disassembly. Shared by `arrjit explain` and the REPL's
//! `:explain`.
//!
//! The machine code is disassembled from the bytes Cranelift emitted
//! ([`MachineCode`]), before relocation and at address 0, so the listing is
//! the same from run to run: offsets instead of addresses, and each call of
//! a host function annotated with its name instead of a raw address. Only
//! x86-64 has a disassembler (iced-x86); elsewhere the section says so.

use std::fmt::Write;

use crate::ast::{self, ExprKind, Stmt};
use crate::engine::Compiled;
use crate::jit::MachineCode;

/// One part of an explanation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// The syntax tree, one node a line with its byte span.
    Ast,
    /// The typed IR for the signature explained.
    Ir,
    /// The loop-nest plan (what fusion decided).
    Plan,
    /// The Cranelift IR generated from the plan.
    Clif,
    /// The machine code, disassembled.
    Asm,
}

impl Section {
    pub const ALL: [Section; 5] = [
        Section::Ast,
        Section::Ir,
        Section::Plan,
        Section::Clif,
        Section::Asm,
    ];

    /// The heading printed above the section.
    pub fn title(self) -> &'static str {
        match self {
            Section::Ast => "syntax tree",
            Section::Ir => "typed IR",
            Section::Plan => "fusion plan",
            Section::Clif => "Cranelift IR",
            Section::Asm => "machine code",
        }
    }

    /// The selector naming the section (`--ast`, `:explain --plan`).
    pub fn flag(self) -> &'static str {
        match self {
            Section::Ast => "ast",
            Section::Ir => "ir",
            Section::Plan => "plan",
            Section::Clif => "clif",
            Section::Asm => "asm",
        }
    }

    pub fn from_flag(flag: &str) -> Option<Section> {
        Section::ALL.into_iter().find(|s| s.flag() == flag)
    }
}

/// The explanation of `compiled` in `sections` (in the order given), each
/// under a `== title ==` heading. `tree` is the syntax tree text
/// ([`expr_tree`] or [`kernel_tree`]).
pub fn report(sections: &[Section], tree: &str, compiled: &Compiled) -> String {
    let mut out = String::new();
    for (k, &section) in sections.iter().enumerate() {
        if k > 0 {
            out.push('\n');
        }
        let body =
            match section {
                Section::Ast => tree.to_string(),
                Section::Ir => compiled.ir.to_string(),
                Section::Plan => compiled.plan.to_string(),
                Section::Clif => match compiled.code.as_ref().map(|c| c.clif()) {
                    Some(Some(clif)) => clif.to_string(),
                    Some(None) => "(not captured: compile with Config::capture_clif)".to_string(),
                    None => "(none: the reference interpreter runs this, no code is generated)"
                        .to_string(),
                },
                Section::Asm => match compiled.code.as_ref().map(|c| c.machine_code()) {
                    Some(Some(mc)) => disassemble(mc),
                    Some(None) => "(not captured: compile with Config::capture_clif)".to_string(),
                    None => "(none: the reference interpreter runs this, no code is generated)"
                        .to_string(),
                },
            };
        let title = match (section, compiled.code.as_ref()) {
            (Section::Asm, Some(code)) => format!(
                "{} ({} bytes{})",
                section.title(),
                code.code_bytes(),
                code.machine_code()
                    .map(|mc| format!(", {}", mc.arch))
                    .unwrap_or_default()
            ),
            _ => section.title().to_string(),
        };
        let _ = writeln!(out, "== {title} ==");
        out.push_str(body.trim_end());
        out.push('\n');
    }
    out
}

/// The syntax tree of an expression, one node a line, children indented,
/// each with its byte span in the source.
pub fn expr_tree(expr: &ast::Expr) -> String {
    let mut out = String::new();
    tree_node(&mut out, expr, 0, "");
    out
}

/// The syntax tree of a kernel: its signature, then each statement's tree.
pub fn kernel_tree(kernel: &ast::Kernel) -> String {
    let mut out = String::new();
    let params = |ps: &[ast::Param]| {
        ps.iter()
            .map(|p| format!("{}: {}", p.name.name, p.ty))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        out,
        "kernel {}({}) -> ({}) @{}",
        kernel.name.name,
        params(&kernel.params),
        params(&kernel.outputs),
        kernel.span
    );
    for stmt in &kernel.body {
        match stmt {
            Stmt::Let { name, value, span } => {
                let _ = writeln!(out, "  let {} @{span}", name.name);
                tree_node(&mut out, value, 2, "");
            }
            Stmt::Assign {
                target,
                index,
                value,
                span,
            } => {
                match index {
                    Some(index) => {
                        let _ = writeln!(out, "  assign {}[{index}] @{span}", target.name);
                    }
                    None => {
                        let _ = writeln!(out, "  assign {} @{span}", target.name);
                    }
                }
                tree_node(&mut out, value, 2, "");
            }
        }
    }
    out
}

// Recursion is bounded: the parser refuses trees deeper than
// `Config::max_depth` (an architecture invariant).
fn tree_node(out: &mut String, expr: &ast::Expr, depth: usize, label: &str) {
    let indent = "  ".repeat(depth);
    let span = expr.span;
    let _ = match &expr.kind {
        ExprKind::Int(v) => writeln!(out, "{indent}{label}int {v} @{span}"),
        ExprKind::Float(v) => writeln!(out, "{indent}{label}float {v:?} @{span}"),
        ExprKind::Bool(v) => writeln!(out, "{indent}{label}bool {v} @{span}"),
        ExprKind::Name(id) => writeln!(out, "{indent}{label}name {} @{span}", id.name),
        ExprKind::Unary(op, x) => {
            let _ = writeln!(out, "{indent}{label}unary {} @{span}", op.symbol().trim());
            tree_node(out, x, depth + 1, "");
            Ok(())
        }
        ExprKind::Binary(op, a, b) => {
            let _ = writeln!(out, "{indent}{label}binary {} @{span}", op.symbol());
            tree_node(out, a, depth + 1, "");
            tree_node(out, b, depth + 1, "");
            Ok(())
        }
        ExprKind::Call { func, args } => {
            let _ = writeln!(out, "{indent}{label}call {} @{span}", func.name);
            for arg in args {
                let label = arg
                    .name
                    .as_ref()
                    .map(|n| format!("{}= ", n.name))
                    .unwrap_or_default();
                tree_node(out, &arg.value, depth + 1, &label);
            }
            Ok(())
        }
        ExprKind::List(items) => {
            let _ = writeln!(out, "{indent}{label}list @{span}");
            for item in items {
                tree_node(out, item, depth + 1, "");
            }
            Ok(())
        }
        ExprKind::Index { base, index } => {
            writeln!(out, "{indent}{label}index {}[{index}] @{span}", base.name)
        }
    };
}

/// The machine code as an assembly listing (Intel syntax), or a line saying
/// why there is none.
pub fn disassemble(mc: &MachineCode) -> String {
    #[cfg(target_arch = "x86_64")]
    if mc.arch == "x86_64" {
        return x86::listing(mc);
    }
    format!(
        "disassembly not available on {} ({} bytes of machine code; arrjit disassembles x86-64 only)",
        mc.arch,
        mc.bytes.len()
    )
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::collections::{BTreeMap, BTreeSet};
    use std::fmt::Write;

    use iced_x86::{
        Decoder, DecoderOptions, FlowControl, Formatter, Instruction, IntelFormatter, MemorySize,
        OpKind,
    };

    use crate::jit::MachineCode;

    /// The value of a constant-pool operand, as the instruction reads it.
    fn constant(bytes: &[u8], inst: &Instruction) -> Option<String> {
        let at = usize::try_from(inst.ip_rel_memory_address()).ok()?;
        let read = |n: usize| bytes.get(at..at.checked_add(n)?);
        match inst.memory_size() {
            MemorySize::Float64 => {
                let b: [u8; 8] = read(8)?.try_into().ok()?;
                Some(format!("{:?}", f64::from_le_bytes(b)))
            }
            MemorySize::Float32 => {
                let b: [u8; 4] = read(4)?.try_into().ok()?;
                Some(format!("{:?}f32", f32::from_le_bytes(b)))
            }
            size => {
                let b = read(size.size())?;
                let hex: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
                Some(format!("bytes {}", hex.join(" ")))
            }
        }
    }

    /// Decodes by following control flow from the entry (Cranelift drops
    /// unreachable blocks), so the constant pool after the code is never
    /// read as instructions; it is shown as data. Branch targets get labels.
    pub(super) fn listing(mc: &MachineCode) -> String {
        let bytes = &mc.bytes;
        let mut insts: BTreeMap<u64, Instruction> = BTreeMap::new();
        let mut labels: BTreeSet<u64> = BTreeSet::new();
        let mut work = vec![0u64];
        while let Some(start) = work.pop() {
            let mut ip = start;
            while (ip as usize) < bytes.len() && !insts.contains_key(&ip) {
                let mut decoder =
                    Decoder::with_ip(64, &bytes[ip as usize..], ip, DecoderOptions::NONE);
                let inst = decoder.decode();
                if inst.is_invalid() {
                    break;
                }
                insts.insert(ip, inst);
                let next = inst.next_ip();
                let target = matches!(
                    inst.op0_kind(),
                    OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64
                )
                .then(|| inst.near_branch_target());
                match inst.flow_control() {
                    FlowControl::ConditionalBranch => {
                        if let Some(t) = target {
                            labels.insert(t);
                            work.push(t);
                        }
                    }
                    FlowControl::UnconditionalBranch => {
                        if let Some(t) = target {
                            labels.insert(t);
                            work.push(t);
                        }
                        break;
                    }
                    FlowControl::Return
                    | FlowControl::IndirectBranch
                    | FlowControl::Exception
                    | FlowControl::Interrupt => break,
                    _ => {}
                }
                ip = next;
            }
        }
        let code_end = insts
            .values()
            .map(|i| i.next_ip())
            .max()
            .unwrap_or(0)
            .min(bytes.len() as u64);
        let label_names: BTreeMap<u64, String> = labels
            .iter()
            .enumerate()
            .map(|(k, &at)| (at, format!(".L{k}")))
            .collect();

        let mut formatter = IntelFormatter::new();
        // `[60h]` rather than `[rip+2Dh]`: the offset in this listing.
        formatter.options_mut().set_rip_relative_addresses(false);
        formatter
            .options_mut()
            .set_space_after_operand_separator(true);
        let mut out = String::new();
        let mut text = String::new();
        for (&ip, inst) in &insts {
            if let Some(name) = label_names.get(&ip) {
                let _ = writeln!(out, "{name}:");
            }
            text.clear();
            let branch = matches!(
                inst.flow_control(),
                FlowControl::ConditionalBranch | FlowControl::UnconditionalBranch
            );
            match label_names.get(&inst.near_branch_target()) {
                Some(name) if branch => {
                    formatter.format_mnemonic(inst, &mut text);
                    text.push(' ');
                    text.push_str(name);
                }
                _ => formatter.format(inst, &mut text),
            }
            let end = inst.next_ip();
            let mut notes: Vec<String> = mc
                .relocs
                .iter()
                .filter(|(off, _)| (ip..end).contains(&u64::from(*off)))
                .map(|(_, name)| name.clone())
                .collect();
            if inst.is_ip_rel_memory_operand() {
                notes.extend(constant(bytes, inst));
            }
            if notes.is_empty() {
                let _ = writeln!(out, "  {ip:4x}:  {text}");
            } else {
                let _ = writeln!(out, "  {ip:4x}:  {text:<36} ; {}", notes.join(", "));
            }
        }
        let pool = &bytes[code_end as usize..];
        if !pool.is_empty() {
            let _ = writeln!(out, "constants ({} bytes):", pool.len());
            for (k, chunk) in pool.chunks(16).enumerate() {
                let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
                let _ = writeln!(
                    out,
                    "  {:4x}:  {}",
                    code_end as usize + 16 * k,
                    hex.join(" ")
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip() {
        for s in Section::ALL {
            assert_eq!(Section::from_flag(s.flag()), Some(s));
        }
        assert_eq!(Section::from_flag("nope"), None);
    }

    #[test]
    fn unknown_architecture_says_so() {
        let mc = MachineCode {
            bytes: vec![0; 12],
            relocs: vec![],
            arch: "riscv64".to_string(),
        };
        assert_eq!(
            disassemble(&mc),
            "disassembly not available on riscv64 (12 bytes of machine code; \
             arrjit disassembles x86-64 only)"
        );
    }
}
