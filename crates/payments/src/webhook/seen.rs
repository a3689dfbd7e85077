//! Answers "was this event applied before?" for concurrent deliveries with one query: ids that
//! arrive while a lookup runs are looked up together in the next one. The answer only saves
//! work (provider lookups for a redelivered event); exactly-once is decided when the event is
//! recorded, in the transaction that applies it.

use std::{collections::HashSet, sync::Arc};

use df_common::Error;
use df_runtime::db::Db;
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::schema::webhook_events;

/// Ids looked up together at most.
const MAX_BATCH: usize = 256;
/// Lookups waiting at most.
const QUEUE: usize = 4_096;
/// Lookups run at once.
const READERS: usize = 2;

struct Question {
    event_id: String,
    reply: oneshot::Sender<Result<bool, Error>>,
}

/// Looks up applied event ids, many per query.
#[derive(Clone)]
pub struct SeenEvents {
    questions: mpsc::Sender<Question>,
}

impl SeenEvents {
    /// Starts the readers. They stop when the last handle is dropped.
    pub fn spawn(db: Db) -> Self {
        let (questions, queue) = mpsc::channel(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..READERS {
            tokio::spawn(answer(Arc::clone(&queue), db.clone()));
        }
        Self { questions }
    }

    /// True when `event_id` was applied before.
    pub async fn contains(&self, event_id: &str) -> Result<bool, Error> {
        let (reply, answer) = oneshot::channel();
        let question = Question {
            event_id: event_id.to_owned(),
            reply,
        };
        self.questions
            .send(question)
            .await
            .map_err(|_| super::batch::stopped())?;
        answer.await.map_err(|_| super::batch::stopped())?
    }
}

async fn answer(queue: Arc<Mutex<mpsc::Receiver<Question>>>, db: Db) {
    loop {
        let Some(questions) = super::batch::next_batch(&queue, MAX_BATCH).await else {
            return;
        };
        let ids: Vec<&str> = questions.iter().map(|q| q.event_id.as_str()).collect();
        let found = lookup(&db, &ids).await;
        for question in questions {
            let _ = question.reply.send(match &found {
                Ok(found) => Ok(found.contains(&question.event_id)),
                Err(error) => Err(error.public_copy()),
            });
        }
    }
}

async fn lookup(db: &Db, ids: &[&str]) -> Result<HashSet<String>, Error> {
    let mut conn = db.conn().await?;
    let found: Vec<String> = webhook_events::table
        .filter(webhook_events::event_id.eq_any(ids))
        .select(webhook_events::event_id)
        .load(&mut conn)
        .await?;
    Ok(found.into_iter().collect())
}
