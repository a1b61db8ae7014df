//! The browser's tree, virtualised: each expanded node knows how many children it has and
//! holds only the pages of them that have been looked at. A visible row is found by walking
//! down through expanded nodes, so drawing costs the rows on screen, not the catalogue.

use crate::catalogue::browse::{Row, Scope, PAGE};
use crate::catalogue::{Catalogue, Result};

/// What a node stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Root,
    DicomGroup,
    VolumeGroup,
    OtherGroup,
    Patient,
    Study,
    Series,
    Instance,
    Volume,
    OtherFile,
}

impl Kind {
    /// Whether the node has children to expand.
    pub fn expandable(self) -> bool {
        matches!(
            self,
            Kind::Root
                | Kind::DicomGroup
                | Kind::VolumeGroup
                | Kind::OtherGroup
                | Kind::Patient
                | Kind::Study
                | Kind::Series
        )
    }

    /// The kind of this node's children.
    fn child(self) -> Kind {
        match self {
            Kind::Root => Kind::DicomGroup,
            Kind::DicomGroup => Kind::Patient,
            Kind::Patient => Kind::Study,
            Kind::Study => Kind::Series,
            Kind::Series => Kind::Instance,
            Kind::VolumeGroup => Kind::Volume,
            Kind::OtherGroup => Kind::OtherFile,
            other => other,
        }
    }

    /// True for nodes that are one file.
    pub fn is_file(self) -> bool {
        matches!(self, Kind::Instance | Kind::Volume | Kind::OtherFile)
    }
}

/// A node: its row from the catalogue and, once expanded, its children.
#[derive(Debug, Clone)]
pub struct Node {
    pub kind: Kind,
    pub row: Row,
    pub expanded: bool,
    pub children: Option<Children>,
}

/// The children of an expanded node: their total and the pages fetched so far.
#[derive(Debug, Clone, Default)]
pub struct Children {
    pub total: usize,
    pages: Vec<Option<Vec<Node>>>,
    /// Sort order index for this level (see `catalogue::browse::*_SORTS`).
    pub sort: usize,
}

impl Children {
    fn get(&self, i: usize) -> Option<&Node> {
        self.pages.get(i / PAGE)?.as_ref()?.get(i % PAGE)
    }
    fn get_mut(&mut self, i: usize) -> Option<&mut Node> {
        self.pages.get_mut(i / PAGE)?.as_mut()?.get_mut(i % PAGE)
    }
    /// Loaded children that are expanded, with their indices, in order.
    fn expanded(&self) -> impl Iterator<Item = (usize, &Node)> {
        self.pages.iter().enumerate().flat_map(|(p, page)| {
            page.iter()
                .flat_map(move |nodes| {
                    nodes
                        .iter()
                        .enumerate()
                        .map(move |(k, n)| (p * PAGE + k, n))
                })
                .filter(|(_, n)| n.expanded)
        })
    }
}

impl Node {
    pub fn new(kind: Kind, row: Row) -> Node {
        Node {
            kind,
            row,
            expanded: false,
            children: None,
        }
    }

    /// Rows this node takes on screen (itself plus its visible descendants).
    pub fn visible_len(&self) -> usize {
        1 + self.inner_len()
    }

    fn inner_len(&self) -> usize {
        match (&self.children, self.expanded) {
            (Some(c), true) => c.total + c.expanded().map(|(_, n)| n.inner_len()).sum::<usize>(),
            _ => 0,
        }
    }

    /// The path (child indices from this node) of visible row `k`, row 0 being this node.
    pub fn locate(&self, k: usize) -> Option<Vec<usize>> {
        if k == 0 {
            return Some(Vec::new());
        }
        let c = self.children.as_ref().filter(|_| self.expanded)?;
        let mut k = k - 1; // rows below this node
        let mut base = 0; // child index of the next unexpanded run
        for (idx, child) in c.expanded() {
            // Children base..idx are one row each.
            let run = idx - base;
            if k < run {
                return Some(vec![base + k]);
            }
            k -= run;
            let len = child.visible_len();
            if k < len {
                let mut path = vec![idx];
                path.extend(child.locate(k)?);
                return Some(path);
            }
            k -= len;
            base = idx + 1;
        }
        let i = base + k;
        (i < c.total).then(|| vec![i])
    }

    /// The visible row index of the node at `path` (inverse of [`Node::locate`]).
    pub fn row_of(&self, path: &[usize]) -> Option<usize> {
        let Some((&first, rest)) = path.split_first() else {
            return Some(0);
        };
        let c = self.children.as_ref().filter(|_| self.expanded)?;
        let mut row = 1 + first;
        for (idx, child) in c.expanded() {
            if idx >= first {
                break;
            }
            row += child.inner_len();
        }
        let child = c.get(first)?;
        Some(row + child.row_of(rest)?)
    }

    pub fn node(&self, path: &[usize]) -> Option<&Node> {
        match path.split_first() {
            None => Some(self),
            Some((&i, rest)) => self.children.as_ref()?.get(i)?.node(rest),
        }
    }

    pub fn node_mut(&mut self, path: &[usize]) -> Option<&mut Node> {
        match path.split_first() {
            None => Some(self),
            Some((&i, rest)) => self.children.as_mut()?.get_mut(i)?.node_mut(rest),
        }
    }
}

/// Fetches a level's page from the catalogue.
pub fn fetch(
    cat: &Catalogue,
    scope: &Scope,
    parent: &Node,
    sort: usize,
    offset: usize,
) -> Result<(usize, Vec<Node>)> {
    let child = parent.kind.child();
    let (total, rows) = match parent.kind {
        Kind::Root => {
            // Three groups, each with its total.
            let (p, v, o) = cat.group_totals(scope)?;
            let group = |id, name: &str, n: usize| Row {
                id,
                cols: vec![name.to_string()],
                counts: vec![n as i64],
                status: None,
            };
            let nodes = vec![
                Node::new(Kind::DicomGroup, group(1, "DICOM", p)),
                Node::new(Kind::VolumeGroup, group(2, "NIfTI / Analyze volumes", v)),
                Node::new(Kind::OtherGroup, group(3, "Other files", o)),
            ];
            return Ok((3, nodes));
        }
        Kind::DicomGroup => {
            // The group row already carries the total.
            let known = parent.row.counts.first().map(|n| *n as usize);
            cat.patients_page_known(scope, sort, offset, known)?
        }
        Kind::Patient => cat.studies_page(scope, parent.row.id, sort, offset)?,
        Kind::Study => cat.series_page(scope, parent.row.id, sort, offset)?,
        Kind::Series => cat.instances_page(scope, parent.row.id, sort, offset)?,
        Kind::VolumeGroup => cat.volumes_page(scope, sort, offset)?,
        Kind::OtherGroup => cat.other_files_page(scope, sort, offset)?,
        _ => (0, Vec::new()),
    };
    Ok((
        total,
        rows.into_iter().map(|r| Node::new(child, r)).collect(),
    ))
}

/// The tree with its root (whose children are the three groups).
pub struct Tree {
    pub root: Node,
}

impl Tree {
    /// A tree over `scope`, with the root and the DICOM group expanded.
    pub fn new(cat: &Catalogue, scope: &Scope) -> Result<Tree> {
        let mut root = Node::new(
            Kind::Root,
            Row {
                id: 0,
                cols: vec![],
                counts: vec![],
                status: None,
            },
        );
        let (total, nodes) = fetch(cat, scope, &root, 0, 0)?;
        root.children = Some(Children {
            total,
            pages: vec![Some(nodes)],
            sort: 0,
        });
        root.expanded = true;
        let mut tree = Tree { root };
        // Open the first non-empty group so the first screen shows data.
        let first = (0..3).find(|&i| {
            tree.root
                .node(&[i])
                .and_then(|n| n.row.counts.first())
                .is_some_and(|c| *c > 0)
        });
        if let Some(i) = first {
            tree.expand(cat, scope, &[i])?;
        }
        Ok(tree)
    }

    /// Visible rows below the (hidden) root.
    pub fn len(&self) -> usize {
        self.root.visible_len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Path of visible row `row` (0-based, root hidden).
    pub fn path_of(&self, row: usize) -> Option<Vec<usize>> {
        self.root.locate(row + 1)
    }

    pub fn row_of(&self, path: &[usize]) -> Option<usize> {
        self.root.row_of(path).map(|r| r.saturating_sub(1))
    }

    /// Makes sure the node at `path` is loaded (its parent's page fetched).
    pub fn ensure(&mut self, cat: &Catalogue, scope: &Scope, path: &[usize]) -> Result<()> {
        let Some((&last, parent_path)) = path.split_last() else {
            return Ok(());
        };
        self.ensure(cat, scope, parent_path)?;
        let Some(parent) = self.root.node(parent_path) else {
            return Ok(());
        };
        let Some(children) = &parent.children else {
            return Ok(());
        };
        let page = last / PAGE;
        if children.pages.get(page).is_some_and(|p| p.is_some()) {
            return Ok(());
        }
        let sort = children.sort;
        let (total, nodes) = fetch(cat, scope, parent, sort, page * PAGE)?;
        if let Some(c) = self
            .root
            .node_mut(parent_path)
            .and_then(|p| p.children.as_mut())
        {
            c.total = total;
            if c.pages.len() <= page {
                c.pages.resize(page + 1, None);
            }
            c.pages[page] = Some(nodes);
        }
        Ok(())
    }

    /// Expands the node at `path`, fetching its first page of children if needed.
    pub fn expand(&mut self, cat: &Catalogue, scope: &Scope, path: &[usize]) -> Result<()> {
        self.ensure(cat, scope, path)?;
        let Some(node) = self.root.node(path) else {
            return Ok(());
        };
        if !node.kind.expandable() {
            return Ok(());
        }
        if node.children.is_none() {
            let (total, nodes) = fetch(cat, scope, node, 0, 0)?;
            if let Some(n) = self.root.node_mut(path) {
                n.children = Some(Children {
                    total,
                    pages: vec![Some(nodes)],
                    sort: 0,
                });
            }
        }
        if let Some(n) = self.root.node_mut(path) {
            n.expanded = true;
        }
        Ok(())
    }

    pub fn collapse(&mut self, path: &[usize]) {
        if let Some(n) = self.root.node_mut(path) {
            n.expanded = false;
        }
    }

    /// Re-sorts the children of the node at `path` with sort order `sort`.
    pub fn sort(
        &mut self,
        cat: &Catalogue,
        scope: &Scope,
        path: &[usize],
        sort: usize,
    ) -> Result<()> {
        let Some(node) = self.root.node(path) else {
            return Ok(());
        };
        let (total, nodes) = fetch(cat, scope, node, sort, 0)?;
        if let Some(n) = self.root.node_mut(path) {
            n.children = Some(Children {
                total,
                pages: vec![Some(nodes)],
                sort,
            });
            n.expanded = true;
        }
        Ok(())
    }

    /// Reloads every fetched page (new rows from a running scan), keeping nodes that are
    /// still at the same place expanded.
    pub fn refresh(&mut self, cat: &Catalogue, scope: &Scope) -> Result<()> {
        refresh_node(cat, scope, &mut self.root)
    }
}

fn refresh_node(cat: &Catalogue, scope: &Scope, node: &mut Node) -> Result<()> {
    let Some(children) = node.children.take() else {
        return Ok(());
    };
    let mut fresh = Children {
        total: 0,
        pages: vec![None; children.pages.len()],
        sort: children.sort,
    };
    for (p, page) in children.pages.into_iter().enumerate() {
        let Some(old) = page else { continue };
        let (total, mut nodes) = fetch(cat, scope, node, children.sort, p * PAGE)?;
        fresh.total = total;
        for (k, n) in nodes.iter_mut().enumerate() {
            if let Some(o) = old
                .get(k)
                .filter(|o| o.row.id == n.row.id && o.kind == n.kind)
            {
                n.expanded = o.expanded;
                n.children = o.children.clone();
                if n.children.is_some() {
                    refresh_node(cat, scope, n)?;
                }
            }
        }
        fresh.pages[p] = Some(nodes);
    }
    if fresh.total == 0 {
        // Nothing was loaded: ask for the total alone.
        let (total, nodes) = fetch(cat, scope, node, fresh.sort, 0)?;
        fresh.total = total;
        fresh.pages = vec![Some(nodes)];
    }
    node.children = Some(fresh);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(kind: Kind, id: i64) -> Node {
        Node::new(
            kind,
            Row {
                id,
                cols: vec![],
                counts: vec![],
                status: None,
            },
        )
    }

    fn with_children(mut n: Node, kids: Vec<Node>, total: usize) -> Node {
        n.children = Some(Children {
            total,
            pages: vec![Some(kids)],
            sort: 0,
        });
        n.expanded = true;
        n
    }

    #[test]
    fn locate_and_row_of_are_inverse() {
        // root: [a (expanded: a0 a1 a2), b, c (expanded: c0 (expanded: x y), c1), d] + 6 unloaded
        let a = with_children(
            leaf(Kind::Patient, 1),
            (0..3).map(|i| leaf(Kind::Study, i)).collect(),
            3,
        );
        let c0 = with_children(
            leaf(Kind::Study, 20),
            vec![leaf(Kind::Series, 30), leaf(Kind::Series, 31)],
            2,
        );
        let c = with_children(leaf(Kind::Patient, 3), vec![c0, leaf(Kind::Study, 21)], 2);
        let root = with_children(
            leaf(Kind::DicomGroup, 0),
            vec![a, leaf(Kind::Patient, 2), c, leaf(Kind::Patient, 4)],
            10,
        );
        // rows: root, a, a0, a1, a2, b, c, c0, x, y, c1, d, 6 more
        assert_eq!(root.visible_len(), 1 + 10 + 3 + 2 + 2);
        let expect: Vec<Vec<usize>> = vec![
            vec![],
            vec![0],
            vec![0, 0],
            vec![0, 1],
            vec![0, 2],
            vec![1],
            vec![2],
            vec![2, 0],
            vec![2, 0, 0],
            vec![2, 0, 1],
            vec![2, 1],
            vec![3],
            vec![4],
        ];
        for (k, path) in expect.iter().enumerate() {
            assert_eq!(root.locate(k).as_ref(), Some(path), "row {k}");
            assert_eq!(root.row_of(path), Some(k), "path {path:?}");
        }
        assert_eq!(root.locate(root.visible_len() - 1), Some(vec![9]));
        assert_eq!(root.locate(root.visible_len()), None);
    }
}
