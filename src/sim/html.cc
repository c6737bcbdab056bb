// The HTML report: one self-contained page. The data is the JSON report embedded in the page;
// inline JavaScript draws the charts as SVG (no network, no external scripts or fonts). When
// every chart is drawn the script writes "charts-rendered:N" into #render-status, and any script
// error writes "script-error:..." there instead, so a headless browser can check the page.
#include <string>

#include "sim/sim.h"

namespace ctrack {
namespace {

constexpr const char* kHead = R"HTML(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>ctrack simulate report</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:20px;color:#222;background:#fff}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #ddd;padding:2px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.grid{display:flex;flex-wrap:wrap;gap:18px}.card{border:1px solid #ddd;padding:8px;border-radius:4px}
pre{background:#f6f6f6;padding:8px;overflow:auto}.legend span{display:inline-block;margin-right:10px}
.sw{display:inline-block;width:10px;height:10px;margin-right:3px}
#render-status{color:#888;font-size:11px}
</style></head><body>
<h1>ctrack simulate</h1>
<div id="render-status">rendering</div>
<div id="summary"></div>
<div id="occupancy"></div><div id="events"></div><div id="chains"></div>
<div id="attribution"></div><div id="stale"></div><div id="policies"></div><div id="sizing"></div>
<script id="data" type="application/json">
)HTML";

constexpr const char* kTail = R"HTML(</script>
<script>
(function(){
var st=document.getElementById('render-status');
window.onerror=function(m){st.textContent='script-error:'+m;st.setAttribute('data-ok','0');};
var D=JSON.parse(document.getElementById('data').textContent);
var NS='http://www.w3.org/2000/svg',charts=0;
var COL=['#e6194b','#f58231','#3cb44b','#9a6324','#911eb4','#46f0f0','#4363d8','#808000','#aaaaaa',
 '#f032e6','#bcf60c','#008080','#fabebe','#000075'];
function el(t,a,p){var e=document.createElementNS(NS,t);for(var k in a)e.setAttribute(k,a[k]);if(p)p.appendChild(e);return e;}
function h(tag,txt,p){var e=document.createElement(tag);if(txt!=null)e.textContent=txt;if(p)p.appendChild(e);return e;}
function fmtB(b){if(b>=1073741824)return (b/1073741824).toFixed(2)+' GiB';if(b>=1048576)return (b/1048576).toFixed(1)+' MiB';if(b>=1024)return (b/1024).toFixed(1)+' KiB';return b+' B';}
function table(p,head,rows){var t=h('table',null,p),tr=h('tr',null,t);head.forEach(function(x){h('th',x,tr);});
 rows.forEach(function(r){var q=h('tr',null,t);r.forEach(function(x){h('td',String(x),q);});});return t;}
// Axes and frame for a chart of width W, height H; returns scale functions.
function frame(svg,W,H,xmax,ymax,xl,yl){var L=60,B=30,T=10,R=10;
 el('rect',{x:L,y:T,width:W-L-R,height:H-T-B,fill:'#fcfcfc',stroke:'#999'},svg);
 var sx=function(x){return L+(W-L-R)*(xmax?x/xmax:0);},sy=function(y){return H-B-(H-T-B)*(ymax?y/ymax:0);};
 for(var i=0;i<=4;i++){var y=ymax*i/4,t=el('text',{x:L-4,y:sy(y)+4,'text-anchor':'end','font-size':10},svg);t.textContent=Math.round(y);
  el('line',{x1:L,x2:W-R,y1:sy(y),y2:sy(y),stroke:'#eee'},svg);}
 for(var j=0;j<=5;j++){var x=xmax*j/5,u=el('text',{x:sx(x),y:H-B+14,'text-anchor':'middle','font-size':10},svg);u.textContent=x.toFixed(1);}
 var a=el('text',{x:(L+W)/2,y:H-2,'text-anchor':'middle','font-size':11},svg);a.textContent=xl;
 var b=el('text',{x:12,y:H/2,'font-size':11,transform:'rotate(-90 12 '+H/2+')','text-anchor':'middle'},svg);b.textContent=yl;
 return [sx,sy];}
function legend(p,names,cols){var d=h('div',null,p);d.className='legend';names.forEach(function(n,i){var s=h('span',null,d),w=h('span',null,s);w.className='sw';w.style.background=cols[i];s.appendChild(document.createTextNode(n));});}
function svgIn(p,W,H){return el('svg',{width:W,height:H,viewBox:'0 0 '+W+' '+H},p);}
var S=D.simulation;
if(S){
 var c=S.counters,sm=h('div',null,document.getElementById('summary'));
 table(sm,['measure','value'],[['packets',c.packets],['capture time (s)',S.duration_s],['nf_conntrack_max',S.settings.nf_conntrack_max],
  ['nf_conntrack_buckets',S.settings.nf_conntrack_buckets],['peak entries',c.peak+' at t='+c.peak_t+' s'],['demand without limit',c.demand_peak],
  ['table full first',c.first_full_t==null?'never':'t='+c.first_full_t+' s'],['drops (table full)',c.table_full_drops],['early drops',c.early_drop+' (+'+c.gc_early_drop+' gc)'],
  ['connections refused',c.refused_connections],['legitimate connections hurt',c.legit_refused+' of '+c.legit_connections],
  ['kernel memory at peak',fmtB(c.memory.kernel_bytes_peak)],['kernel memory, full table',fmtB(c.memory.kernel_bytes_full_table)],['ctrack memory',fmtB(c.memory.ctrack_bytes)]]);
 // Occupancy by state, stacked areas.
 var oc=document.getElementById('occupancy');h('h2','Occupancy by state over time',oc);
 var W=900,H=320,sv=svgIn(oc,W,H),sa=S.samples,tmax=sa.length?sa[sa.length-1].t:1,ymax=1;
 sa.forEach(function(s){ymax=Math.max(ymax,s.count,S.settings.nf_conntrack_max&&S.settings.nf_conntrack_max<4*s.count?S.settings.nf_conntrack_max:0);});
 var f=frame(sv,W,H,tmax||1,ymax,'time (s)','entries'),base=sa.map(function(){return 0;});
 S.categories.forEach(function(name,k){var any=sa.some(function(s){return s.by_cat[k]>0;});if(!any)return;
  var top=sa.map(function(s,i){return base[i]+s.by_cat[k];}),d='M';
  sa.forEach(function(s,i){d+=f[0](s.t)+','+f[1](top[i])+' L';});
  for(var i=sa.length-1;i>=0;i--)d+=f[0](sa[i].t)+','+f[1](base[i])+(i?' L':' Z');
  el('path',{d:d,fill:COL[k],'fill-opacity':0.8,stroke:'none'},sv);base=top;});
 if(S.settings.nf_conntrack_max&&S.settings.nf_conntrack_max<=ymax){var y=f[1](S.settings.nf_conntrack_max);
  el('line',{x1:f[0](0),x2:f[0](tmax),y1:y,y2:y,stroke:'#c00','stroke-dasharray':'4 3'},sv);}
 var cnt='M';sa.forEach(function(s,i){cnt+=f[0](s.t)+','+f[1](s.count)+(i<sa.length-1?' L':'');});
 if(sa.length)el('path',{d:cnt,fill:'none',stroke:'#000','stroke-width':1},sv);
 legend(oc,S.categories,COL);charts++;
 // New / expired / early drops / drops per interval.
 var ev=document.getElementById('events');h('h2','New, expired, early-dropped and dropped per interval',ev);
 var keys=['created','expired','early_drop','drop'],ec=['#4363d8','#3cb44b','#f58231','#e6194b'],series=keys.map(function(k){
  return sa.map(function(s,i){return i?s[k]-sa[i-1][k]:s[k];});}),em=1;
 series.forEach(function(s){s.forEach(function(v){em=Math.max(em,v);});});
 var sv2=svgIn(ev,W,260),g=frame(sv2,W,260,tmax||1,em,'time (s)','per interval');
 series.forEach(function(s,k){var d='M';s.forEach(function(v,i){d+=g[0](sa[i].t)+','+g[1](v)+(i<s.length-1?' L':'');});
  if(s.length)el('path',{d:d,fill:'none',stroke:ec[k],'stroke-width':1.5},sv2);});
 legend(ev,['new','expired','early drop','drop (table full)'],ec);charts++;
 // Chain histogram.
 var ch=document.getElementById('chains'),C=S.chains;h('h2','Kernel hash-chain depth at the peak',ch);
 h('p','Both tuples of each entry in '+C.buckets+' buckets: max depth '+C.max+', mean '+C.mean_used+' per used bucket, '+C.load+' per bucket (ctrack\'s own table: max '+C.ctrack_max_chain+').',ch);
 var hs=C.histogram,hm=1;hs.forEach(function(v){if(v>hm)hm=v;});
 var sv3=svgIn(ch,600,240),q=frame(sv3,600,240,hs.length,hm,'depth (nodes)','buckets'),bw=(q[0](1)-q[0](0))*0.8;
 hs.forEach(function(v,i){el('rect',{x:q[0](i)+2,y:q[1](v),width:bw,height:q[1](0)-q[1](v),fill:'#4363d8'},sv3);
  var t=el('text',{x:q[0](i)+2+bw/2,y:q[1](0)-2,'font-size':9,'text-anchor':'middle',fill:'#fff'},sv3);t.textContent=i+(i==hs.length-1?'+':'');});
 charts++;
 // Attribution.
 var at=document.getElementById('attribution');h('h2','Who filled the table',at);
 var snaps=(S.peak?[S.peak]:[]).concat(S.overflows);
 snaps.forEach(function(a){h('h3',a.why+' at t='+a.t+' s (packet '+a.packet+'): '+a.entries+' live entries',at);
  var gr=h('div',null,at);gr.className='grid';
  [['state','by_state'],['protocol','by_proto'],['source /24 /64','src_prefix'],['destination /24 /64','dst_prefix'],['destination port','dst_port'],['heaviest sources','heaviest_sources']].forEach(function(p){
   var cd=h('div',null,gr);cd.className='card';table(cd,[p[0],'entries','%'],a[p[1]].map(function(r){return [r[0],r[1],a.entries?(100*r[1]/a.entries).toFixed(1):0];}));});});
 var sl=document.getElementById('stale');h('h2','Stale and orphaned entries (end of capture)',sl);
 S.stale.forEach(function(s){h('h3',s.name+': '+s.count,sl);h('p',s.description,sl);if(s.examples.length)h('pre',s.examples.join('\n'),sl);});
}
var P=D.policies;
if(P){var pp=document.getElementById('policies');h('h2','Overload policies compared',pp);
 table(pp,['policy','drops (table full)','early drops','connections refused','legitimate hurt','ASSURED evicted','peak entries','peak kernel memory','ctrack memory'],
  P.map(function(r){var k=r.counters;return [r.policy,k.table_full_drops,k.early_drop+k.gc_early_drop,k.refused_connections,k.legit_refused+' / '+k.legit_connections,k.assured_evicted,k.peak,fmtB(k.memory.kernel_bytes_peak),fmtB(k.memory.ctrack_bytes)];}));
 var pm=1;P.forEach(function(r){pm=Math.max(pm,r.counters.legit_refused,r.counters.table_full_drops);});
 var sv4=svgIn(pp,600,40+P.length*36);P.forEach(function(r,i){var y=20+i*36,k=r.counters,t=el('text',{x:0,y:y+12,'font-size':11},sv4);t.textContent=r.policy;
  el('rect',{x:90,y:y,width:480*k.table_full_drops/pm,height:13,fill:'#e6194b'},sv4);el('rect',{x:90,y:y+15,width:480*k.legit_refused/pm,height:13,fill:'#4363d8'},sv4);});
 legend(pp,['drops (table full)','legitimate connections hurt'],['#e6194b','#4363d8']);charts++;}
var W2=D.sweep;
if(W2){var sz=document.getElementById('sizing'),z=W2.sizing;h('h2','Sizing',sz);
 table(sz,['settings','drops','early drops','peak','kernel memory (full)'],W2.rows.map(function(r){
  return [Object.keys(r.settings).map(function(k){return k+'='+r.settings[k];}).join(' '),r.counters.table_full_drops,r.counters.early_drop,r.counters.peak,fmtB(r.kernel_bytes_full_table)];}));
 h('p','Demand peak '+z.demand_peak+' entries; smallest swept max with zero drops: '+(z.smallest_zero_drop_max==null?'none':z.smallest_zero_drop_max)+
  '. Recommended nf_conntrack_max '+z.recommended_max+', nf_conntrack_buckets '+z.recommended_buckets+' ('+z.depth_when_full+' nodes per bucket when full), kernel memory '+fmtB(z.kernel_bytes)+', drops when replayed: '+z.recommended_drops+'.',sz);
 h('pre',z.apply.join('\n'),sz);
 var rows=W2.rows.filter(function(r){return r.settings.nf_conntrack_max!==undefined;}),dm=1,mm=1;
 rows.forEach(function(r){dm=Math.max(dm,r.counters.table_full_drops);mm=Math.max(mm,r.settings.nf_conntrack_max);});
 if(rows.length){var sv5=svgIn(sz,600,240),o=frame(sv5,600,240,mm,dm,'nf_conntrack_max','drops'),d='M';
  rows.slice().sort(function(a,b){return a.settings.nf_conntrack_max-b.settings.nf_conntrack_max;}).forEach(function(r,i,arr){
   d+=o[0](r.settings.nf_conntrack_max)+','+o[1](r.counters.table_full_drops)+(i<arr.length-1?' L':'');
   el('circle',{cx:o[0](r.settings.nf_conntrack_max),cy:o[1](r.counters.table_full_drops),r:3,fill:'#e6194b'},sv5);});
  el('path',{d:d,fill:'none',stroke:'#e6194b'},sv5);charts++;}}
if(st.textContent.indexOf('script-error')<0){st.textContent='charts-rendered:'+charts;st.setAttribute('data-ok','1');}
})();
</script></body></html>
)HTML";

}  // namespace

std::string ReportHtml(const SimReport* sim, const std::vector<PolicyRow>* policies,
                       const SweepReport* sweep) {
  // ReportJson escapes '<' inside strings, so the data cannot close the script element.
  return std::string(kHead) + ReportJson(sim, policies, sweep) + kTail;
}

}  // namespace ctrack
