//! The Redis store: jobs, reports, incidents and the evidence chain head in a Redis server
//! that several `super-agent` servers share (key layout: docs/redis.md).
//!
//! The calls are synchronous like the other stores' ([`mno_redis::SyncConn`]: one connection,
//! reconnected after a failure, each call bounded by `redis.timeout`); Redis down is
//! [`StoreError::Unavailable`], which the API answers with 503. Gate jobs go through the job
//! stream (`crate::redis_queue`); the scripts here make its steps atomic: queueing a job
//! unless the same id is already queued or running, and storing a result only while holding
//! the job's lock (so a job run twice after a crash still stores one result).

use std::time::Duration;

use mno_redis::redis;
use mno_redis::{Keys, RedisConfig, SyncConn};

use super::{IncidentRecord, JobRecord, NewIncident, PruneRule, PrunedJob, StateStore, StoreError};
use crate::messages::IncidentStatus;

/// Queue a job unless one with the same id is queued or running (then its record is returned).
const ENQUEUE: &str = r"
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, j = pcall(cjson.decode, cur)
  if ok and (j.status == 'QUEUED' or j.status == 'RUNNING') then return cur end
end
redis.call('SET', KEYS[1], ARGV[1])
local s = redis.call('INCR', KEYS[4])
redis.call('ZADD', KEYS[3], s, ARGV[2])
redis.call('XADD', KEYS[2], '*', 'validation_id', ARGV[2], 'run_id', ARGV[3])
return false
";

/// Store a finished job, its reports, acknowledge its stream entry and release its lock,
/// all only while the lock is still ours; 1 when stored, 0 when the lock was lost.
const FINISH: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[4])
local s = redis.call('INCR', KEYS[4])
redis.call('ZADD', KEYS[3], s, ARGV[3])
redis.call('DEL', KEYS[6])
if #ARGV > 6 then
  for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[6], ARGV[i], ARGV[i + 1]) end
  redis.call('PEXPIRE', KEYS[6], ARGV[4])
end
redis.call('XACK', KEYS[5], ARGV[5], ARGV[6])
redis.call('XDEL', KEYS[5], ARGV[6])
redis.call('DEL', KEYS[1])
return 1
";

/// Extend a lock we hold; 0 when it is not ours any more.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
";

/// Keep the longer evidence head.
const HEAD: &str = r"
local cur = tonumber(redis.call('HGET', KEYS[1], 'records') or '-1')
if tonumber(ARGV[1]) > cur then
  redis.call('HSET', KEYS[1], 'records', ARGV[1], 'hash', ARGV[2])
  return 1
end
return 0
";

/// Jobs and incidents in Redis.
pub struct RedisStore {
    conn: SyncConn,
    keys: Keys,
    result_ttl: Duration,
    /// The key id of this server's evidence chain (its head is kept under it).
    chain: std::sync::RwLock<String>,
}

/// What storing a finished job found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Stored; the stream entry is acknowledged.
    Stored,
    /// The lock had passed to another worker: nothing stored.
    LostLock,
}

impl RedisStore {
    /// A store on the configured server (connects on first use).
    pub fn open(cfg: &RedisConfig) -> Result<RedisStore, StoreError> {
        Ok(RedisStore {
            conn: SyncConn::new(cfg)?,
            keys: cfg.keys(),
            result_ttl: Duration::from_secs_f64(cfg.result_ttl),
            chain: std::sync::RwLock::new("default".into()),
        })
    }

    /// Keep the evidence head under this chain's key id (each server signs its own chain).
    pub fn set_chain_id(&self, key_id: &str) {
        *self.chain.write().unwrap_or_else(|e| e.into_inner()) = key_id.to_string();
    }

    fn chain_id(&self) -> String {
        self.chain.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The key layout.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Check that Redis answers (PING).
    pub fn ping(&self) -> Result<(), StoreError> {
        self.conn
            .with(|c| redis::cmd("PING").query::<String>(c))
            .map(|_| ())
            .map_err(Into::into)
    }

    /// Queue `job` on the stream unless the same id is queued or running; `Some(existing)`
    /// when it is.
    pub fn enqueue(&self, job: &JobRecord) -> Result<Option<JobRecord>, StoreError> {
        let id = &job.validation_id;
        let text = serde_json::to_string(job)?;
        let k = &self.keys;
        let cur: Option<String> = self.conn.with(|c| {
            redis::cmd("EVAL")
                .arg(ENQUEUE)
                .arg(4)
                .arg(k.job(id))
                .arg(k.jobs_stream())
                .arg(k.jobs_index())
                .arg(k.jobs_seq())
                .arg(&text)
                .arg(id)
                .arg(job.run_id.as_deref().unwrap_or(""))
                .query(c)
        })?;
        Ok(cur.map(|t| serde_json::from_str(&t)).transpose()?)
    }

    /// Take the job's lock for `lease` (`SET NX PX`); `false` when another worker holds it.
    pub fn lock(&self, id: &str, owner: &str, lease: Duration) -> Result<bool, StoreError> {
        let r: Option<String> = self.conn.with(|c| {
            redis::cmd("SET")
                .arg(self.keys.lock(id))
                .arg(owner)
                .arg("NX")
                .arg("PX")
                .arg(lease.as_millis() as u64)
                .query(c)
        })?;
        Ok(r.is_some())
    }

    /// Extend the lock while it is ours; `false` when it is not.
    pub fn renew(&self, id: &str, owner: &str, lease: Duration) -> Result<bool, StoreError> {
        let n: i64 = self.conn.with(|c| {
            redis::cmd("EVAL")
                .arg(RENEW)
                .arg(1)
                .arg(self.keys.lock(id))
                .arg(owner)
                .arg(lease.as_millis() as u64)
                .query(c)
        })?;
        Ok(n == 1)
    }

    /// Store the finished `job` and its `reports`, acknowledge stream entry `entry`, release
    /// the lock: at once, and only while `owner` holds the lock.
    pub fn finish(
        &self,
        job: &JobRecord,
        reports: &[(String, Vec<u8>)],
        owner: &str,
        entry: &str,
    ) -> Result<Finish, StoreError> {
        let id = &job.validation_id;
        let text = serde_json::to_string(job)?;
        let k = &self.keys;
        let n: i64 = self.conn.with(|c| {
            let mut cmd = redis::cmd("EVAL");
            cmd.arg(FINISH)
                .arg(6)
                .arg(k.lock(id))
                .arg(k.job(id))
                .arg(k.jobs_index())
                .arg(k.jobs_seq())
                .arg(k.jobs_stream())
                .arg(k.reports(id))
                .arg(owner)
                .arg(&text)
                .arg(id)
                .arg(self.ttl_ms())
                .arg(k.jobs_group())
                .arg(entry);
            for (name, bytes) in reports {
                cmd.arg(name).arg(bytes.as_slice());
            }
            cmd.query(c)
        })?;
        Ok(if n == 1 {
            Finish::Stored
        } else {
            Finish::LostLock
        })
    }

    /// Acknowledge (and delete) a stream entry that needs no run.
    pub fn ack(&self, entry: &str) -> Result<(), StoreError> {
        let k = &self.keys;
        self.conn.with(|c| {
            redis::pipe()
                .atomic()
                .cmd("XACK")
                .arg(k.jobs_stream())
                .arg(k.jobs_group())
                .arg(entry)
                .ignore()
                .cmd("XDEL")
                .arg(k.jobs_stream())
                .arg(entry)
                .ignore()
                .query::<()>(c)
        })?;
        Ok(())
    }

    fn ttl_ms(&self) -> u64 {
        (self.result_ttl.as_millis() as u64).max(1000)
    }

    /// The key ids of the evidence chains kept here.
    pub fn evidence_chains(&self) -> Result<Vec<String>, StoreError> {
        let prefix = self.keys.evidence_records("");
        let mut out: Vec<String> = Vec::new();
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = self.conn.with(|c| {
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(format!("{prefix}*"))
                    .arg("COUNT")
                    .arg(1000)
                    .query(c)
            })?;
            out.extend(
                keys.iter()
                    .filter_map(|k| k.strip_prefix(&prefix).map(str::to_string)),
            );
            if next == 0 {
                break;
            }
            cursor = next;
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    fn read_jobs(&self, ids: &[String]) -> Result<Vec<(String, Option<JobRecord>)>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|i| self.keys.job(i)).collect();
        let texts: Vec<Option<String>> =
            self.conn.with(|c| redis::cmd("MGET").arg(&keys).query(c))?;
        let mut out = Vec::new();
        for (id, t) in ids.iter().zip(texts) {
            out.push((
                id.clone(),
                t.map(|t| serde_json::from_str::<JobRecord>(&t))
                    .transpose()?,
            ));
        }
        Ok(out)
    }

    /// Drop index entries whose record expired.
    fn forget(&self, index: &str, ids: &[String]) {
        if ids.is_empty() {
            return;
        }
        let _ = self
            .conn
            .with(|c| redis::cmd("ZREM").arg(index).arg(ids).query::<i64>(c));
    }

    fn read_incidents(&self, ids: &[String]) -> Result<Vec<IncidentRecord>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let texts: Vec<Option<String>> = self.conn.with(|c| {
            redis::cmd("HMGET")
                .arg(self.keys.incidents())
                .arg(ids)
                .query(c)
        })?;
        let mut out = Vec::new();
        for t in texts.into_iter().flatten() {
            out.push(serde_json::from_str(&t)?);
        }
        Ok(out)
    }

    fn incident_ids(&self, limit: isize) -> Result<Vec<String>, StoreError> {
        Ok(self.conn.with(|c| {
            redis::cmd("ZREVRANGE")
                .arg(format!("{}:ids", self.keys.incidents()))
                .arg(0)
                .arg(limit - 1)
                .query(c)
        })?)
    }
}

impl StateStore for RedisStore {
    fn backend(&self) -> &'static str {
        "redis"
    }

    fn shared(&self) -> bool {
        true
    }

    fn put_job(&self, job: &JobRecord) -> Result<(), StoreError> {
        let id = &job.validation_id;
        let text = serde_json::to_string(job)?;
        let k = &self.keys;
        let ttl = self.ttl_ms();
        self.conn.with(|c| {
            let mut p = redis::pipe();
            p.atomic();
            if job.status.is_done() {
                p.cmd("SET").arg(k.job(id)).arg(&text).arg("PX").arg(ttl);
            } else {
                p.cmd("SET").arg(k.job(id)).arg(&text);
            }
            let (seq,): (i64,) = p.ignore().cmd("INCR").arg(k.jobs_seq()).query(c)?;
            redis::cmd("ZADD")
                .arg(k.jobs_index())
                .arg(seq)
                .arg(id)
                .query::<i64>(c)
        })?;
        Ok(())
    }

    fn get_job(&self, validation_id: &str) -> Result<Option<JobRecord>, StoreError> {
        let t: Option<String> = self
            .conn
            .with(|c| redis::cmd("GET").arg(self.keys.job(validation_id)).query(c))?;
        Ok(t.map(|t| serde_json::from_str(&t)).transpose()?)
    }

    fn list_jobs(&self, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        let index = self.keys.jobs_index();
        let mut out = Vec::new();
        let mut start = 0isize;
        // Expired records leave index entries behind; skip (and drop) them.
        while out.len() < limit {
            let want = (limit - out.len()) as isize;
            let ids: Vec<String> = self.conn.with(|c| {
                redis::cmd("ZREVRANGE")
                    .arg(&index)
                    .arg(start)
                    .arg(start + want - 1)
                    .query(c)
            })?;
            if ids.is_empty() {
                break;
            }
            start += ids.len() as isize;
            let mut gone = Vec::new();
            for (id, j) in self.read_jobs(&ids)? {
                match j {
                    Some(j) => out.push(j),
                    None => gone.push(id),
                }
            }
            start -= gone.len() as isize;
            self.forget(&index, &gone);
        }
        Ok(out)
    }

    fn interrupt_unfinished(&self, _reason: &str) -> Result<Vec<String>, StoreError> {
        // Queued and running jobs belong to the stream: a dead server's pending job is
        // claimed by another (XAUTOCLAIM), so a restart marks nothing.
        Ok(Vec::new())
    }

    fn append_incident(&self, incident: NewIncident) -> Result<IncidentRecord, StoreError> {
        let k = &self.keys;
        let id: u64 = self
            .conn
            .with(|c| redis::cmd("INCR").arg(k.incident_seq()).query(c))?;
        let rec = IncidentRecord::from_new(id, incident);
        let text = serde_json::to_string(&rec)?;
        let open = rec.state == IncidentStatus::Firing;
        let identity = rec.signal.identity();
        self.conn.with(|c| {
            let mut p = redis::pipe();
            p.atomic()
                .cmd("HSET")
                .arg(k.incidents())
                .arg(id)
                .arg(&text)
                .ignore()
                .cmd("ZADD")
                .arg(format!("{}:ids", k.incidents()))
                .arg(id)
                .arg(id)
                .ignore();
            if open {
                p.cmd("HSET")
                    .arg(k.incident_open())
                    .arg(&identity)
                    .arg(id)
                    .ignore();
            }
            p.query::<()>(c)
        })?;
        Ok(rec)
    }

    fn put_incident(&self, incident: &IncidentRecord) -> Result<(), StoreError> {
        let k = &self.keys;
        let text = serde_json::to_string(incident)?;
        let identity = incident.signal.identity();
        self.conn.with(|c| {
            let mut p = redis::pipe();
            p.atomic()
                .cmd("HSET")
                .arg(k.incidents())
                .arg(incident.id)
                .arg(&text)
                .ignore();
            if incident.state == IncidentStatus::Resolved {
                p.cmd("HDEL").arg(k.incident_open()).arg(&identity).ignore();
            }
            p.query::<()>(c)
        })?;
        Ok(())
    }

    fn get_incident(&self, id: u64) -> Result<Option<IncidentRecord>, StoreError> {
        let t: Option<String> = self.conn.with(|c| {
            redis::cmd("HGET")
                .arg(self.keys.incidents())
                .arg(id)
                .query(c)
        })?;
        Ok(t.map(|t| serde_json::from_str(&t)).transpose()?)
    }

    fn open_incident(&self, identity: &str) -> Result<Option<IncidentRecord>, StoreError> {
        let id: Option<u64> = self.conn.with(|c| {
            redis::cmd("HGET")
                .arg(self.keys.incident_open())
                .arg(identity)
                .query(c)
        })?;
        match id {
            Some(id) => Ok(self
                .get_incident(id)?
                .filter(|i| i.state == IncidentStatus::Firing)),
            None => Ok(None),
        }
    }

    fn list_incidents(&self, limit: usize) -> Result<Vec<IncidentRecord>, StoreError> {
        let ids = self.incident_ids(limit.min(isize::MAX as usize) as isize)?;
        self.read_incidents(&ids)
    }

    fn prune_jobs(&self, rule: &PruneRule) -> Result<Vec<PrunedJob>, StoreError> {
        let index = self.keys.jobs_index();
        let ids: Vec<String> = self
            .conn
            .with(|c| redis::cmd("ZREVRANGE").arg(&index).arg(0).arg(-1).query(c))?;
        let mut done = Vec::new();
        let mut gone_ids = Vec::new();
        for (id, j) in self.read_jobs(&ids)? {
            match j {
                Some(j) if j.status.is_done() => done.push(j),
                Some(_) => {}
                None => gone_ids.push(id),
            }
        }
        self.forget(&index, &gone_ids);
        let verdict = rule.condemned(done.iter().map(super::job_time));
        let mut gone = Vec::new();
        for (j, v) in done.into_iter().zip(verdict) {
            if !v {
                continue;
            }
            let id = j.validation_id.clone();
            self.conn.with(|c| {
                redis::pipe()
                    .atomic()
                    .cmd("DEL")
                    .arg(self.keys.job(&id))
                    .arg(self.keys.reports(&id))
                    .ignore()
                    .cmd("ZREM")
                    .arg(&index)
                    .arg(&id)
                    .ignore()
                    .query::<()>(c)
            })?;
            gone.push(PrunedJob {
                validation_id: id,
                reports_dir: j.reports_dir,
            });
        }
        Ok(gone)
    }

    fn prune_incidents(&self, rule: &PruneRule) -> Result<usize, StoreError> {
        let ids = self.incident_ids(isize::MAX)?;
        let all = self.read_incidents(&ids)?;
        let verdict = rule.condemned(all.iter().map(|i| Some(i.received_at.as_str())));
        let mut n = 0;
        let k = &self.keys;
        for (i, v) in all.iter().zip(verdict) {
            if !v {
                continue;
            }
            let identity = i.signal.identity();
            let open = i.state == IncidentStatus::Firing;
            self.conn.with(|c| {
                let mut p = redis::pipe();
                p.atomic()
                    .cmd("HDEL")
                    .arg(k.incidents())
                    .arg(i.id)
                    .ignore()
                    .cmd("ZREM")
                    .arg(format!("{}:ids", k.incidents()))
                    .arg(i.id)
                    .ignore();
                if open {
                    p.cmd("HDEL").arg(k.incident_open()).arg(&identity).ignore();
                }
                p.query::<()>(c)
            })?;
            n += 1;
        }
        Ok(n)
    }

    fn put_evidence_head(&self, head: &mno_gates::evidence::ChainHead) -> Result<(), StoreError> {
        self.conn.with(|c| {
            redis::cmd("EVAL")
                .arg(HEAD)
                .arg(1)
                .arg(self.keys.evidence_head(&self.chain_id()))
                .arg(head.records)
                .arg(&head.hash)
                .query::<i64>(c)
        })?;
        Ok(())
    }

    fn evidence_head(&self) -> Result<Option<mno_gates::evidence::ChainHead>, StoreError> {
        let (records, hash): (Option<u64>, Option<String>) = self.conn.with(|c| {
            redis::cmd("HMGET")
                .arg(self.keys.evidence_head(&self.chain_id()))
                .arg("records")
                .arg("hash")
                .query(c)
        })?;
        Ok(match (records, hash) {
            (Some(records), Some(hash)) => Some(mno_gates::evidence::ChainHead { records, hash }),
            _ => None,
        })
    }

    fn put_evidence_record(&self, key_id: &str, seq: u64, line: &str) -> Result<(), StoreError> {
        self.conn.with(|c| {
            redis::cmd("ZADD")
                .arg(self.keys.evidence_records(key_id))
                .arg("NX")
                .arg(seq)
                .arg(line)
                .query::<i64>(c)
        })?;
        Ok(())
    }

    fn evidence_records(&self, key_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(self.conn.with(|c| {
            redis::cmd("ZRANGE")
                .arg(self.keys.evidence_records(key_id))
                .arg(0)
                .arg(-1)
                .query(c)
        })?)
    }

    fn put_reports(
        &self,
        validation_id: &str,
        files: &[(String, Vec<u8>)],
    ) -> Result<(), StoreError> {
        if files.is_empty() {
            return Ok(());
        }
        let key = self.keys.reports(validation_id);
        let ttl = self.ttl_ms();
        self.conn.with(|c| {
            let mut p = redis::pipe();
            p.atomic();
            for (name, bytes) in files {
                p.cmd("HSET")
                    .arg(&key)
                    .arg(name)
                    .arg(bytes.as_slice())
                    .ignore();
            }
            p.cmd("PEXPIRE").arg(&key).arg(ttl).ignore();
            p.query::<()>(c)
        })?;
        Ok(())
    }

    fn get_report(&self, validation_id: &str, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.conn.with(|c| {
            redis::cmd("HGET")
                .arg(self.keys.reports(validation_id))
                .arg(name)
                .query(c)
        })?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(server: &mno_testkit::RedisServer) -> RedisStore {
        RedisStore::open(&RedisConfig {
            url: Some(server.url()),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn redis_store_keeps_the_contract() {
        let Some(server) = mno_testkit::RedisServer::start(&[]) else {
            return;
        };
        super::super::tests::contract(&store(&server));
    }

    #[test]
    fn redis_store_prunes_finished_jobs_and_incidents_by_age_and_count() {
        let Some(server) = mno_testkit::RedisServer::start(&[]) else {
            return;
        };
        super::super::tests::prune_contract(&store(&server));
    }

    #[test]
    fn queueing_is_once_per_id_and_results_need_the_lock() {
        use super::super::JobStatus;
        let Some(server) = mno_testkit::RedisServer::start(&[]) else {
            return;
        };
        let s = store(&server);
        let mut j = super::super::tests::job("gate-7-01234567", JobStatus::Queued);
        j.run_id = Some("r1".into());
        assert!(s.enqueue(&j).unwrap().is_none());
        let mut again = j.clone();
        again.run_id = Some("r2".into());
        let cur = s.enqueue(&again).unwrap().expect("already queued");
        assert_eq!(cur.run_id.as_deref(), Some("r1"));
        let lease = Duration::from_secs(5);
        assert!(s.lock("gate-7-01234567", "w1|r1", lease).unwrap());
        assert!(!s.lock("gate-7-01234567", "w2|r1", lease).unwrap());
        assert!(s.renew("gate-7-01234567", "w1|r1", lease).unwrap());
        assert!(!s.renew("gate-7-01234567", "w2|r1", lease).unwrap());
        j.status = JobStatus::Passed;
        let files = vec![("report.json".to_string(), b"{}".to_vec())];
        assert_eq!(
            s.finish(&j, &files, "w2|r1", "0-1").unwrap(),
            Finish::LostLock
        );
        assert_eq!(
            s.get_job("gate-7-01234567").unwrap().unwrap().status,
            JobStatus::Queued
        );
        assert_eq!(
            s.finish(&j, &files, "w1|r1", "0-1").unwrap(),
            Finish::Stored
        );
        assert_eq!(
            s.get_job("gate-7-01234567").unwrap().unwrap().status,
            JobStatus::Passed
        );
        assert_eq!(
            s.get_report("gate-7-01234567", "report.json").unwrap(),
            Some(b"{}".to_vec())
        );
        // The lock went with the result: a second finish by the same owner stores nothing.
        assert_eq!(
            s.finish(&j, &files, "w1|r1", "0-1").unwrap(),
            Finish::LostLock
        );
        // Finished: the same id can be queued again.
        assert!(s.enqueue(&again).unwrap().is_none());
    }

    #[test]
    fn redis_down_is_unavailable_and_recovers() {
        let Some(mut server) = mno_testkit::RedisServer::start(&[]) else {
            return;
        };
        let s = store(&server);
        s.append_incident(super::super::tests::incident("A"))
            .unwrap();
        server.stop();
        let e = s.list_incidents(10).unwrap_err();
        assert!(matches!(e, StoreError::Unavailable(_)), "{e}");
        server.restart();
        // An empty server (no persistence): the store works again at once.
        assert!(s.list_incidents(10).unwrap().is_empty());
    }

    #[test]
    fn password_and_acl_user_are_used() {
        let Some(server) = mno_testkit::RedisServer::start(&["--requirepass", "pw-1"]) else {
            return;
        };
        let with = |user: Option<&str>, pw: Option<&str>| {
            RedisStore::open(&RedisConfig {
                url: Some(server.url()),
                username: user.map(str::to_string),
                password: pw.map(str::to_string),
                ..Default::default()
            })
            .unwrap()
        };
        assert!(with(None, None).ping().is_err());
        assert!(with(None, Some("wrong")).ping().is_err());
        with(None, Some("pw-1")).ping().unwrap();
        let out = server
            .cli(&[
                "-a",
                "pw-1",
                "--no-auth-warning",
                "ACL",
                "SETUSER",
                "agent",
                "on",
                ">agent-pw",
                "~*",
                "&*",
                "+@all",
            ])
            .unwrap_or_default();
        if out != "OK" {
            panic!("ACL SETUSER: {out:?}");
        }
        let s = with(Some("agent"), Some("agent-pw"));
        s.ping().unwrap();
        super::super::tests::contract(&s);
        let url_auth = RedisStore::open(&RedisConfig {
            url: Some(format!("redis://agent:agent-pw@127.0.0.1:{}", server.port)), // mno:allow (a test fixture, not a credential)
            ..Default::default()
        })
        .unwrap();
        assert!(url_auth.get_job("gate-1-01234567").unwrap().is_some());
    }
}
