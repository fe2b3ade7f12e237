//! Following an operation's polling answers to its final answer within one call, for the
//! operations whose polling URL is not worth persisting: a cart deletion (sent again if lost)
//! and a payment (the card is never kept, so a lost one is sent again by the user). Steps
//! that must survive a restart (reserve, purchase, release) persist each polling URL and poll
//! one exchange at a time instead ("persist, then call", see `checkout::driver`).

use serde::de::DeserializeOwned;

use super::client::{CallContext, Deleted, PartnerApi};
use super::error::UpstreamError;
use super::reply::Reply;

/// Polls followed within one call before giving up on an answer.
pub const MAX_POLLS: u32 = 30;

/// Why following an operation gave no final answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FollowError {
    /// Upstream refused or failed, the first request or one of its polls.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// Upstream still answered "poll again" after [`MAX_POLLS`] polls: the gateway stopped
    /// asking. Whether the operation took effect is unknown.
    #[error("no final answer after {polls} polls")]
    GaveUp { polls: u32 },
}

impl PartnerApi {
    /// Follow `reply` to its final answer, waiting out each poll's `wait`. A poll that is gone
    /// took the answer with it: that is [`UpstreamError::PollGone`] for the caller to settle.
    pub async fn follow<T: DeserializeOwned>(
        &self,
        ctx: &CallContext,
        reply: Reply<T>,
    ) -> Result<T, FollowError> {
        let gone = || std::future::ready(Err(UpstreamError::PollGone));
        self.follow_or_resend(ctx, reply, gone).await
    }

    /// `DELETE /cart`, followed to its final answer. Sent again when a poll is gone with the
    /// answer: deleting twice is harmless (a cart already gone answers 404).
    pub async fn delete_cart_to_the_end(
        &self,
        ctx: &CallContext,
        cart_id: &str,
    ) -> Result<(), FollowError> {
        let first = self.delete_cart(ctx, cart_id).await?;
        let _: Deleted = self
            .follow_or_resend(ctx, first, || self.delete_cart(ctx, cart_id))
            .await?;
        Ok(())
    }

    /// The one loop: `resend` answers in place of a poll that is gone.
    async fn follow_or_resend<T, Resent>(
        &self,
        ctx: &CallContext,
        mut reply: Reply<T>,
        mut resend: impl FnMut() -> Resent,
    ) -> Result<T, FollowError>
    where
        T: DeserializeOwned,
        // A plain closure returning a future, not an async closure: the future of an async
        // closure that borrows is not `Send` for every lifetime, which spawned drivers need.
        Resent: Future<Output = Result<Reply<T>, UpstreamError>>,
    {
        let mut polls = 0;
        loop {
            let ticket = match reply {
                Reply::Done(answer) => return Ok(answer),
                Reply::Poll(ticket) => ticket,
            };
            // The answer to the last poll is read before giving up (it may be the final one).
            if polls == MAX_POLLS {
                return Err(FollowError::GaveUp { polls });
            }
            polls += 1;
            tokio::time::sleep(ticket.wait).await;
            reply = match self.poll(ctx, &ticket.url).await {
                Err(UpstreamError::PollGone) => resend().await?,
                other => other?,
            };
        }
    }
}
