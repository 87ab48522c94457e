use exp_escape_rates::saddle::SaddleExit;
use exp_escape_rates::well::*;
use sgd_sim::potential::DoubleWell;
fn main() {
    let well = DoubleWell { height: 1.0 };
    for (r, eta) in [(4.0, 0.01), (4.0, 0.02), (5.0, 0.01), (5.0, 0.02), (6.0, 0.01), (6.0, 0.02), (5.0, 0.005)] {
        let t = 1.0 / r;
        let ex = langevin_passage_time(&well, t).unwrap();
        let k = kramers_passage_time(&well, t);
        let var = 2.0 * t / eta;
        let st = std::time::Instant::now();
        let ch = chain_exit_steps(&well, eta, var).unwrap();
        println!("dL/T={r} eta={eta}: exact {ex:.3} kramers {k:.3} (err {:.4}) chain {:.3} steps -> {:.3} time, bias {:.4}  [{:?}]", k/ex-1.0, ch, ch*eta, ch*eta/ex-1.0, st.elapsed());
    }
    let s = SaddleExit::new(1.0, 0.01, 0.5).unwrap();
    println!("flow Reff {} koenigs {}", s.flow_effective_radius(), s.ln_koenigs(0.5).unwrap().exp());
    for y0 in [1e-4, 1e-8, 1e-12] {
        println!("gd y0={y0}: formula {} exact {}", s.gd_exit_steps_formula(y0), s.gd_exit_step_exact(y0).unwrap());
    }
    for sc in [0.1, 0.03, 0.01] {
        println!("sgd s={sc}: formula {} discrete {} sd {}", s.sgd_mean_exit_steps_formula(sc), s.sgd_mean_exit_steps_discrete(sc).unwrap(), s.sgd_exit_steps_sd());
    }
}
