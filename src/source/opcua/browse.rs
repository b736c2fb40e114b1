//! The address-space walk behind `edgeproof browse`: hierarchical references from a start
//! node down to a depth, with each variable's data type, so an integrator can find node ids
//! without a separate OPC UA client.

use opcua::client::Session;
use opcua::types::{
    AttributeId, BrowseDescription, BrowseDirection, BrowseResultMask, NodeClass, NodeId, ObjectId,
    ReadValueId, ReferenceTypeId, StatusCode, TimestampsToReturn, Variant,
};

/// One node found.
#[derive(Debug, Clone, PartialEq)]
pub struct BrowsedNode {
    /// Levels below the start node (1 = a child).
    pub depth: usize,
    /// The node id, printable as `ns=2;s=…`.
    pub node_id: NodeId,
    /// The browse name without its namespace index.
    pub browse_name: String,
    /// Object, Variable, Method …
    pub node_class: NodeClass,
    /// Variables: the data type's browse name (`Double`, `UInt32` …).
    pub data_type: Option<String>,
}

/// Walks `start` down to `depth` levels, at most `limit` nodes. Starting at the Objects
/// folder, the standard `Server` object is skipped (its diagnostics are hundreds of nodes
/// nobody maps); browse it with `--node i=2253`.
pub async fn browse(
    session: &Session,
    start: &NodeId,
    depth: usize,
    limit: usize,
) -> Result<Vec<BrowsedNode>, StatusCode> {
    let mut out = Vec::new();
    let skip: NodeId = ObjectId::Server.into();
    let objects: NodeId = ObjectId::ObjectsFolder.into();
    // Depth-first with an explicit stack: a node is listed, then its subtree.
    let mut stack: Vec<(NodeId, String, NodeClass, usize)> = Vec::new();
    let mut first = children(session, start).await?;
    if *start == objects {
        first.retain(|(id, _, _)| *id != skip);
    }
    stack.extend(first.into_iter().rev().map(|(id, name, class)| (id, name, class, 1)));
    while let Some((id, name, class, level)) = stack.pop() {
        if out.len() >= limit {
            break;
        }
        if level < depth {
            let kids = children(session, &id).await?;
            stack.extend(kids.into_iter().rev().map(|(i, n, c)| (i, n, c, level + 1)));
        }
        out.push(BrowsedNode {
            depth: level,
            node_id: id,
            browse_name: name,
            node_class: class,
            data_type: None,
        });
    }
    data_types(session, &mut out).await;
    Ok(out)
}

async fn children(
    session: &Session,
    node: &NodeId,
) -> Result<Vec<(NodeId, String, NodeClass)>, StatusCode> {
    let desc = BrowseDescription {
        node_id: node.clone(),
        browse_direction: BrowseDirection::Forward,
        reference_type_id: ReferenceTypeId::HierarchicalReferences.into(),
        include_subtypes: true,
        node_class_mask: 0,
        result_mask: BrowseResultMask::All as u32,
    };
    let mut results = session.browse(&[desc], 0, None).await.map_err(|e| e.status())?;
    let mut found = Vec::new();
    while let Some(r) = results.pop() {
        for rd in r.references.into_iter().flatten() {
            if rd.node_id.server_index == 0 {
                found.push((
                    rd.node_id.node_id,
                    rd.browse_name.name.as_ref().to_string(),
                    rd.node_class,
                ));
            }
        }
        if r.continuation_point.is_null() {
            break;
        }
        results =
            session.browse_next(false, &[r.continuation_point]).await.map_err(|e| e.status())?;
    }
    Ok(found)
}

/// Fills `data_type` of every variable: one Read of the DataType attributes, one of the
/// types' browse names.
async fn data_types(session: &Session, nodes: &mut [BrowsedNode]) {
    let vars: Vec<usize> =
        (0..nodes.len()).filter(|&i| nodes[i].node_class == NodeClass::Variable).collect();
    if vars.is_empty() {
        return;
    }
    let ids: Vec<ReadValueId> = vars
        .iter()
        .map(|&i| ReadValueId {
            node_id: nodes[i].node_id.clone(),
            attribute_id: AttributeId::DataType as u32,
            ..Default::default()
        })
        .collect();
    let Ok(types) = session.read(&ids, TimestampsToReturn::Neither, 0.0).await else { return };
    let type_ids: Vec<Option<NodeId>> = types
        .iter()
        .map(|dv| match &dv.value {
            Some(Variant::NodeId(id)) => Some((**id).clone()),
            _ => None,
        })
        .collect();
    let names_req: Vec<ReadValueId> = type_ids
        .iter()
        .flatten()
        .map(|id| ReadValueId {
            node_id: id.clone(),
            attribute_id: AttributeId::BrowseName as u32,
            ..Default::default()
        })
        .collect();
    let names =
        session.read(&names_req, TimestampsToReturn::Neither, 0.0).await.unwrap_or_default();
    let mut names = names.into_iter();
    for (&i, t) in vars.iter().zip(type_ids) {
        if t.is_none() {
            continue;
        }
        let name = names.next().and_then(|dv| match dv.value {
            Some(Variant::QualifiedName(q)) => Some(q.name.as_ref().to_string()),
            _ => None,
        });
        nodes[i].data_type = name.or_else(|| t.map(|id| id.to_string()));
    }
}

/// A browse name as a point name: printable, unique among `taken`.
pub fn point_name(browse_name: &str, taken: &mut std::collections::HashSet<String>) -> String {
    let base: String = browse_name.chars().filter(|c| !c.is_control()).collect();
    let base = if base.is_empty() { "point".to_string() } else { base };
    let mut name = base.clone();
    let mut n = 2;
    while !taken.insert(name.clone()) {
        name = format!("{base}_{n}");
        n += 1;
    }
    name
}
