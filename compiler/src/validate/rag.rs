//! RAG settings (`tenant::rag::*`): chunking, reranking, the ingest role.

use super::*;

/// The tenant's RAG settings: chunking (`tenant::rag::overlap`), then the
/// reranking model and ingest role; defaults for what is not given.
pub(super) fn check_rag(cx: &mut Cx<'_>, p: &PlatformInfo, t: &RawTenant) -> res::Rag {
    let chunk = t.rag.chunk_size.as_ref().map(|c| c.value as u32).unwrap_or(defaults::CHUNK_SIZE);
    let overlap = t.rag.overlap.as_ref().map(|c| c.value as u32).unwrap_or(defaults::OVERLAP);
    if overlap >= chunk {
        let at = t
            .rag
            .overlap
            .as_ref()
            .map(|o| o.span)
            .or(t.rag.chunk_size.as_ref().map(|c| c.span))
            .or(t.rag.span)
            .unwrap_or(t.span);
        cx.err(
            Diagnostic::error(
                "tenant::rag::overlap",
                format!("chunk overlap {overlap} is not smaller than the chunk size {chunk}"),
                at,
                "overlap too large",
            )
            .with_help("the overlap must be smaller than the chunk size; a quarter of it or less is usual"),
        );
    }
    let extra = check_rag_extra(cx, p, t);
    res::Rag {
        chunk_size: chunk,
        overlap,
        top_k: t.rag.top_k.as_ref().map(|c| c.value as u32).unwrap_or(defaults::TOP_K),
        min_score: t.rag.min_score.as_ref().map(|c| c.value).unwrap_or(defaults::MIN_SCORE),
        hybrid: t.rag.hybrid.as_ref().map(|h| h.value).unwrap_or(defaults::HYBRID),
        rerank_model: extra.rerank_model,
        ingest_role: extra.ingest_role,
        embedding_dimensions: extra.embedding_dimensions,
    }
}

/// What `rag` resolves to beyond its numbers.
struct RagExtra {
    rerank_model: Option<String>,
    ingest_role: String,
    embedding_dimensions: u32,
}

/// The `rag` settings beyond chunking: the reranking model (a `reranking`
/// model of the catalog), the ingest role (a role name), and the
/// dimensions the platform's Vectorize index stores.
fn check_rag_extra(cx: &mut Cx<'_>, p: &PlatformInfo, t: &RawTenant) -> RagExtra {
    let rerank_model = t
        .rag
        .rerank
        .as_ref()
        .and_then(|m| check_model(cx, m, "reranking", "rerank"))
        .map(|i| i.id);
    let ingest_role = match &t.rag.ingest_role {
        Some(r) if !is_slug(&r.value, 32) => {
            let shown = cx.syntax(r.span, "ingest-role".into(), "ingest_role".into());
            cx.err(
                Diagnostic::error(
                    "tenant::rag::ingest-role",
                    format!("`{}` is not a valid role name", r.value),
                    r.span,
                    "invalid role",
                )
                .with_help(format!(
                    "`{shown}` names the role allowed to add documents: lowercase letters, digits and dashes, at most 32 characters, e.g. \"admin\""
                )),
            );
            r.value.clone()
        }
        Some(r) => r.value.clone(),
        None => defaults::INGEST_ROLE.to_string(),
    };
    let embedding_dimensions = p
        .resolved
        .bindings
        .iter()
        .find_map(|b| match &b.kind {
            res::BindingKind::Vectorize { dimensions, .. } => Some(*dimensions),
            _ => None,
        })
        .unwrap_or(0);
    RagExtra {
        rerank_model,
        ingest_role,
        embedding_dimensions,
    }
}
