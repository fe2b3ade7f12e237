//! The queue against a plain model of its rules, at scale, and what a send costs.

use std::collections::HashMap;

use super::*;

/// The queue as it was before it kept its order: a look over every waiter for each question.
/// Slow and plainly right, so the queue must answer as it does.
#[derive(Debug, Default)]
struct Model {
    waiting: HashMap<u64, (Priority, Instant, Owner)>,
    next_ticket: u64,
    last_served: HashMap<Owner, u64>,
    served: u64,
}

impl Model {
    fn leave(&mut self, ticket: u64) {
        self.waiting.remove(&ticket);
    }

    fn in_lane(&self, lane: Priority) -> usize {
        self.waiting.values().filter(|w| w.0 == lane).count()
    }
}

/// What the model test and the benchmark drive: the queue, or the model it replaced.
trait Sends {
    fn enqueue(&mut self, lane: Priority, owner: Option<&str>, now: Instant) -> u64;
    fn next_up(&mut self, now: Instant) -> Option<u64>;
    fn served(&mut self, ticket: u64);
}

impl Sends for Model {
    fn enqueue(&mut self, lane: Priority, owner: Option<&str>, now: Instant) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.waiting
            .insert(ticket, (lane, now, owner.map(Arc::from)));
        ticket
    }

    fn served(&mut self, ticket: u64) {
        let Some((_, _, owner)) = self.waiting.remove(&ticket) else {
            return;
        };
        self.served += 1;
        self.last_served.insert(owner, self.served);
        if self.last_served.len() > REMEMBERED_IDLE + self.waiting.len() {
            let waiting: Vec<_> = self.waiting.values().map(|w| w.2.clone()).collect();
            self.last_served.retain(|owner, _| waiting.contains(owner));
        }
    }

    fn next_up(&mut self, now: Instant) -> Option<u64> {
        self.waiting
            .iter()
            .min_by_key(|(ticket, (lane, since, owner))| {
                let turn = self.last_served.get(owner).copied().unwrap_or(0);
                (
                    effective_lane(*lane, now.duration_since(*since)),
                    turn,
                    **ticket,
                )
            })
            .map(|(ticket, _)| *ticket)
    }
}

impl Sends for Queue {
    fn enqueue(&mut self, lane: Priority, owner: Option<&str>, now: Instant) -> u64 {
        Queue::enqueue(self, lane, owner, now).0
    }
    fn next_up(&mut self, now: Instant) -> Option<u64> {
        Queue::next_up(self, now)
    }
    fn served(&mut self, ticket: u64) {
        Queue::served(self, ticket);
    }
}

/// `lane` after waiting `waited`: one lane up per [`AGING`], no higher than its ceiling.
fn effective_lane(lane: Priority, waited: Duration) -> u32 {
    let risen = (waited.as_millis() / AGING.as_millis()) as u32;
    (lane as u32)
        .saturating_sub(risen)
        .max(ceiling(lane) as u32)
}

const ALL_LANES: [Priority; LANES] = [
    Priority::Critical,
    Priority::Reserve,
    Priority::Release,
    Priority::Refresh,
    Priority::Job,
];

/// A seeded xorshift: the same seed gives the same run, to replay a failure.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Random sends of `users` users (and the gateway's own) queue, leave, are served in turn or
/// out of it (a claim that took long enough for aging to change the turn) while the clock
/// moves, in phases that fill the queue and drain it; after every step, the queue and the
/// model name the same next waiter, and agree on who else waits and on each lane's count.
/// Returns how often the queue forgot idle users.
fn agree_with_the_model(seed: u64, users: u64, steps: usize) -> usize {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut now = Instant::now();
    let (mut queue, mut model) = (Queue::default(), Model::default());
    let mut live: Vec<u64> = Vec::new();
    let mut forgot = 0;
    for step in 0..steps {
        let at = format!("seed {seed}, {users} users, step {step}");
        let filling = (step / 400) % 2 == 0;
        let remembered = queue.remembered;
        match rng.below(100) {
            r if r < if filling { 55 } else { 25 } => {
                let lane = ALL_LANES[rng.below(LANES as u64) as usize];
                let owner = (rng.below(10) > 0).then(|| format!("u{}", rng.below(users)));
                let ticket = Sends::enqueue(&mut queue, lane, owner.as_deref(), now);
                assert_eq!(ticket, model.enqueue(lane, owner.as_deref(), now), "{at}");
                live.push(ticket);
            }
            r if r < 75 => {
                if let Some(ticket) = model.next_up(now) {
                    queue.served(ticket);
                    model.served(ticket);
                    live.retain(|t| *t != ticket);
                }
            }
            r if r < 88 => {
                // Out of turn, or one already gone (a waiter leaving after its send).
                let ticket = match rng.below(4) {
                    0 => rng.below(model.next_ticket),
                    _ => live
                        .get(rng.below(live.len() as u64) as usize)
                        .copied()
                        .unwrap_or(0),
                };
                if rng.below(2) == 0 {
                    queue.leave(ticket);
                    model.leave(ticket);
                } else {
                    queue.served(ticket);
                    model.served(ticket);
                }
                live.retain(|t| *t != ticket);
            }
            // On a 50 ms grid, so a waiter is often asked about exactly when it rises.
            _ => now += Duration::from_millis(50 * rng.below(60)),
        }
        assert_eq!(queue.next_up(now), model.next_up(now), "{at}");
        let ticket = rng.below(model.next_ticket + 1);
        let others = model.waiting.keys().any(|t| *t != ticket);
        assert_eq!(queue.others_waiting(ticket), others, "{at}");
        let lane = ALL_LANES[rng.below(LANES as u64) as usize];
        assert_eq!(queue.asked[lane as usize], model.in_lane(lane), "{at}");
        forgot += usize::from(queue.remembered < remembered);
    }
    forgot
}

#[test]
fn the_queue_names_the_same_next_waiter_as_a_look_over_every_waiter() {
    for seed in 1..=8 {
        agree_with_the_model(seed, [1, 3, 40][seed as usize % 3], 4_000);
    }
    // More users than are remembered: idle ones are forgotten, and go first again.
    let forgot = agree_with_the_model(9, 5_000, 12_000);
    assert!(forgot > 0, "the run never forgot idle users");
}

/// A lane's count is the sends that asked for it, wherever aging has raised them: a full lane
/// refuses a read, one fewer admits it.
#[test]
fn a_lanes_share_counts_the_sends_that_asked_for_it() {
    let start = Instant::now();
    let mut queue = Queue::default();
    for _ in 0..3 {
        queue.enqueue(Priority::Refresh, Some("a"), start);
    }
    queue.next_up(start + AGING * 3);
    let read = Claim {
        priority: Priority::Refresh,
        owner: None,
        refusable: true,
    };
    let per_send = Duration::from_secs(1);
    let shares = |per_lane| Shares {
        per_user: 1,
        per_lane,
    };
    assert_eq!(
        queue.admit(&read, shares(3), per_send),
        Err(QueueFull {
            retry_after: per_send * 3
        })
    );
    assert_eq!(queue.admit(&read, shares(4), per_send), Ok(None));
}

/// A burst of 100,000 sends of 1,000 users, 100 each, queued at once: served user by user in
/// turn, each user's in ticket order, across the rise of all of them to the critical lane
/// midway; and the queue's work stays a few steps per send, where a look over the queue per
/// send would be some five billion.
#[test]
fn a_hundred_thousand_waiting_are_served_in_turn_with_bounded_work() {
    const USERS: u64 = 1_000;
    const EACH: u64 = 100;
    const SENDS: u64 = USERS * EACH;
    let start = Instant::now();
    let mut queue = Queue::default();
    for user in 0..USERS {
        let name = format!("user{user}");
        for _ in 0..EACH {
            queue.enqueue(Priority::Reserve, Some(&name), start);
        }
    }
    let mut order = Vec::new();
    for sent in 0..SENDS {
        // 500 a second: all rise to the critical lane after the first 1,000.
        let now = start + Duration::from_millis(2 * sent);
        let ticket = queue.next_up(now).expect("one is waiting");
        assert_eq!(queue.others_waiting(ticket), sent + 1 < SENDS);
        queue.served(ticket);
        queue.wake_next(now);
        order.push(ticket);
    }
    // Tickets go user by user: user u's k-th is u * EACH + k.
    let in_turn = (0..EACH).flat_map(|k| (0..USERS).map(move |user| user * EACH + k));
    let out_of_turn = order.iter().zip(in_turn).position(|(a, b)| *a != b);
    assert_eq!(out_of_turn, None, "the first send out of turn");
    assert!(queue.waiting.is_empty() && queue.aging.is_empty());
    let per_send = queue.lanes.steps / SENDS;
    assert!(per_send <= 20, "{per_send} steps per send");
}

/// The mean time of `sends` sends' queue work with `waiting` waiting (one joins per send, so
/// it stays so), at 500 sends a second: a send is what `acquire` asks of the queue — its turn
/// checked, served, the next woken, which checks its turn.
fn per_send(queue: &mut impl Sends, waiting: usize, sends: usize) -> Duration {
    let owners: Vec<String> = (0..waiting as u64)
        .map(|i| format!("pseudonym-{:016x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
        .collect();
    // A burst of creates: reserve lane sends, a third of them in the critical lane.
    let lane = |i: usize| [Priority::Reserve, Priority::Critical][usize::from(i.is_multiple_of(3))];
    let start = Instant::now();
    for (i, owner) in owners.iter().enumerate() {
        queue.enqueue(lane(i), Some(owner), start);
    }
    let timer = std::time::Instant::now();
    for i in 0..sends {
        let now = start + Duration::from_millis(2 * i as u64);
        queue.enqueue(lane(i), Some(&owners[i % waiting]), now);
        let ticket = queue.next_up(now).expect("one is waiting");
        queue.served(ticket);
        queue.next_up(now);
        queue.next_up(now);
    }
    timer.elapsed() / sends as u32
}

/// Not a test: prints the cost of a send with 1k, 10k and 100k waiting, before (the model's
/// look over every waiter) and after, measured in the same run. docs/performance.md has the
/// command (the crate optimised, its dependencies as built for the tests) and the figures.
#[test]
#[ignore = "a benchmark: prints timings, asserts nothing"]
fn per_send_cost_before_and_after() {
    for waiting in [1_000, 10_000, 100_000] {
        let before = per_send(
            &mut Model::default(),
            waiting,
            (2_000_000 / waiting).max(20),
        );
        let after = per_send(&mut Queue::default(), waiting, 20_000);
        let ratio = before.as_secs_f64() / after.as_secs_f64();
        println!(
            "{waiting:>7} waiting: before {before:>10.2?}, after {after:>8.2?} per send ({ratio:.0}x)"
        );
    }
}
