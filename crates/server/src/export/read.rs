//! The exporter's reader tasks: they stream the scope's items, a range of
//! keys at a time, as chunks for the pipeline, each in a read-only
//! transaction of one shared snapshot (`db::snapshot`).

use futures_util::TryStreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::ExportError;
use super::{CHUNKS_AHEAD, READERS};
use crate::db::{
    self,
    export::{ItemRow, Key, Reads, Scope},
};

/// What a reader task reads (see [`super::run_in_chunks`]).
#[derive(Clone)]
pub(super) struct Reader {
    pub(super) scope: Scope,
    pub(super) k: usize,
    pub(super) reads: Reads,
    pub(super) chunk_items: usize,
    /// The most items a range holds.
    pub(super) range_items: i64,
}

/// Consecutive items of one range.
pub(super) struct Chunk {
    pub(super) items: Vec<ItemRow>,
    /// Whether the range has no more items (this chunk may be empty).
    pub(super) ends_range: bool,
}

impl Reader {
    /// Reads the given ranges of the scope's items, each as chunks for
    /// [`run_in_chunks`], then ends the transaction. Stops early when that
    /// has given up (the channel is closed).
    async fn read(
        self,
        mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
        ranges: Vec<(Key, Key)>,
        out: mpsc::Sender<Result<Chunk, sqlx::Error>>,
    ) -> Result<(), sqlx::Error> {
        for range in ranges {
            let mut rows = db::export::items(
                &mut tx,
                &self.scope,
                self.k,
                self.reads,
                range,
                self.range_items,
            );
            let mut items = Vec::with_capacity(self.chunk_items);
            loop {
                let (item, ends_range) = match rows.try_next().await {
                    Ok(Some(item)) => (Some(item), false),
                    Ok(None) => (None, true),
                    Err(e) => {
                        // The error ends the export; nothing to wait for.
                        let _ = out.send(Err(e)).await;
                        return Ok(());
                    }
                };
                items.extend(item);
                if ends_range || items.len() == self.chunk_items {
                    let items = std::mem::replace(&mut items, Vec::with_capacity(self.chunk_items));
                    if out.send(Ok(Chunk { items, ends_range })).await.is_err() {
                        return Ok(());
                    }
                }
                if ends_range {
                    break;
                }
            }
        }
        tx.commit().await
    }
}

/// The running reader tasks, each with the chunks it sends; they take turns
/// range by range.
pub(super) struct Readers(Vec<(ReadTask, mpsc::Receiver<Result<Chunk, sqlx::Error>>)>);

type ReadTask = JoinHandle<Result<(), sqlx::Error>>;

impl Readers {
    /// One reader per transaction: the n-th reads ranges n, n + READERS, …
    pub(super) fn start(
        reader: Reader,
        transactions: [sqlx::Transaction<'static, sqlx::Postgres>; READERS],
        ranges: &[(Key, Key)],
    ) -> Readers {
        let mut readers = Vec::new();
        for (n, tx) in transactions.into_iter().enumerate() {
            let (chunks_tx, chunks) = mpsc::channel(CHUNKS_AHEAD);
            let mine: Vec<(Key, Key)> = ranges.iter().copied().skip(n).step_by(READERS).collect();
            let task = tokio::spawn(reader.clone().read(tx, mine, chunks_tx));
            readers.push((task, chunks));
        }
        Readers(readers)
    }

    /// The next chunk of the `range`-th range.
    pub(super) async fn next(&mut self, range: usize) -> Result<Chunk, ExportError> {
        // A reader sends its error before it stops: stopping silently
        // means it panicked.
        let Some(chunk) = self.0[range % READERS].1.recv().await else {
            return Err(anyhow::anyhow!("an export reader stopped early").into());
        };
        Ok(chunk?)
    }

    /// Waits for every reader to commit its transaction.
    pub(super) async fn finish(self) -> Result<(), ExportError> {
        for (task, _) in self.0 {
            task.await
                .map_err(|e| anyhow::anyhow!("the export's reader stopped: {e}"))??;
        }
        Ok(())
    }
}
