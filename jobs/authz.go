package jobs

// Role is what an authenticated caller may do. The policy is this file and
// nothing else: resolvers and transports ask it, they never decide.
//
//	                        user        reviewer              admin
//	create jobs             yes         no                    yes
//	read a job              own only    in review* only       all
//	list jobs               own         in review*            all
//	read the raw prompt     own         in review*, audited   all***
//	read the source image   own         in review*, audited   all***
//	claim for review        no          in review*            all
//	approve / reject        no          any job**             any job**
//	read the audit log      no          no                    yes
//	upload source images    yes         no                    yes
//	use a source image      own only    no                    own only
//
//	*  COMPLETED, APPROVED or REJECTED.
//	** only a COMPLETED job can be decided; another status is a CONFLICT
//	   that names it when the caller may read the job (a reviewer: APPROVED
//	   or REJECTED, naming the decision and who made it), and NOT_FOUND
//	   otherwise. A job another reviewer has claimed (ClaimReview) and not
//	   let go is a CONFLICT naming them.
//	*** audited when the job is another owner's.
//
// Reviewers judge a video against what was asked for, so they read the
// prompt and the source image of the jobs they may review; every such read
// of another owner's inputs is an audit entry (job.prompt_read,
// asset.read), admins' included. An owner reading their own inputs is not
// recorded: it discloses nothing to anyone new, and would bury the reads
// that matter under every refresh of a user's own job list.
//
// A job the caller may not read is NOT_FOUND, exactly like a job that does
// not exist, so ids cannot be probed.
type Role string

const (
	RoleUser     Role = "user"
	RoleReviewer Role = "reviewer"
	RoleAdmin    Role = "admin"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	return r == RoleUser || r == RoleReviewer || r == RoleAdmin
}

// Actor is an authenticated caller: a subject (a user, partner app or
// reviewer id, as the identity provider names it) and its role.
type Actor struct {
	Subject string
	Role    Role
}

func (a Actor) authenticated() bool { return a.Subject != "" && a.Role.Valid() }

// CanReadJob reports whether a may see j.
func (a Actor) CanReadJob(j *Job) bool {
	switch a.Role {
	case RoleAdmin:
		return true
	case RoleReviewer:
		return j.Status.InReview()
	case RoleUser:
		return j.OwnerID == a.Subject
	}
	return false
}

// CanReadPrompt reports whether a may read j's raw prompt: its owner,
// admins, and reviewers while the job is in review — exactly who may read
// the job, since a reviewer judges the output against it (reads of another
// owner's prompt are audited).
func (a Actor) CanReadPrompt(j *Job) bool { return a.CanReadJob(j) }

// CanReadSourceImage reports whether a may read j's source image: the same
// readers as its prompt.
func (a Actor) CanReadSourceImage(j *Job) bool { return a.CanReadPrompt(j) }

// auditsReadOf reports whether a's reads of j's inputs are audited: they
// are when j is another owner's.
func (a Actor) auditsReadOf(j *Job) bool { return j.OwnerID != a.Subject }

// CanCreateJobs reports whether a may create jobs.
func (a Actor) CanCreateJobs() bool { return a.Role == RoleUser || a.Role == RoleAdmin }

// CanUploadAssets reports whether a may upload source images.
func (a Actor) CanUploadAssets() bool { return a.Role == RoleUser || a.Role == RoleAdmin }

// CanUseAsset reports whether a may make a job from asset: only from their
// own uploads, admins included, since the job belongs to its creator. An
// asset a may not use is NOT_FOUND, like one that does not exist.
func (a Actor) CanUseAsset(asset *SourceAsset) bool {
	return a.CanCreateJobs() && asset.OwnerID == a.Subject
}

// CanReview reports whether a may approve or reject jobs.
func (a Actor) CanReview() bool { return a.Role == RoleReviewer || a.Role == RoleAdmin }

// CanReadAudit reports whether a may read the audit trail. Others get
// FORBIDDEN, as for stats: the log is not a resource whose existence is
// secret.
func (a Actor) CanReadAudit() bool { return a.Role == RoleAdmin }

// listScope narrows a job listing to what a may see.
func (a Actor) listScope(f *ListFilter) {
	switch a.Role {
	case RoleUser:
		f.OwnerID = a.Subject
	case RoleReviewer:
		f.ReviewOnly = true
	}
}
